/*
 * The container's process, seen from inside: its context while it runs the
 * steps, and how it fails. A failing step writes a struct step_error on the
 * close-on-exec error pipe and exits 1; the helper parent turns it into an
 * `ERROR` line (parent.c, wait_exec). EOF on that pipe means exec
 * succeeded.
 */
#ifndef IGLOO_CHILD_H
#define IGLOO_CHILD_H

#include <sys/types.h>

#include "plan.h"
#include "report.h"

/* What the container's process writes on the error pipe when a step fails.
 * Fixed size and smaller than PIPE_BUF, so one write is atomic. */
struct step_error {
	int err;
	int index;
	char op[32];
	char msg[MSG_MAX];
};

/* Context of the process that runs the steps (the container's process). */
struct child_ctx {
	const struct plan *plan;
	int errfd;     /* write end of the close-on-exec error pipe */
	int consfd;    /* socket to send the pty master on, or -1 */
	int nullfd;    /* /dev/null for `console null`, or -1 */
	int rootfd;    /* O_PATH fd of the rootfs (after `rootfs`), or -1 */
	int rootfs_pre; /* the rootfs opened with the caller's ids, or -1 */
	int workdir_pre; /* `workdir` opened with the caller's ids, or -1 */
	int pty_slave;  /* slave of the console pty made by `devconsole`, or -1 */
	int own_mntns; /* mounts are allowed: we are in a private mount ns */
	int own_utsns; /* hostname is allowed: we are in a private uts ns */
	int own_netns; /* loopback is allowed: we are in a private net ns */
	mode_t umask;  /* umask to restore before exec */
	const struct record *cur; /* record being executed (for errors) */
};

/* The context of a process about to run P's steps in namespaces NS_FLAGS
 * (created or joined: mounts and the hostname are refused without a mount
 * or uts namespace of its own). Sets the umask to 0: steps create files
 * with the modes the plan says; the caller's comes back just before exec. */
void child_ctx_init(struct child_ctx *c, const struct plan *p, int errfd, int consfd,
		    int nullfd, int rootfs_pre, unsigned long ns_flags);

/* The failing step is C's current record (record 0, igloo-plan, if none). */
void child_fail(struct child_ctx *c, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void child_fail_at(int errfd, int index, const char *op, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 5, 6)));

/* Shorthand: the failing call's errno, and its text at the end. */
#define FAIL(c, fmt, ...)                                                    \
	do {                                                                 \
		int e_ = errno;                                              \
		child_fail((c), e_, fmt ": %s", ##__VA_ARGS__, strerror(e_)); \
	} while (0)

/* Moves the calling process into each of the plan's cgroups (`cgroup`
 * records: cgroup.procs files, opened without following a link, written
 * "0" = the writer). Called by the container's process with the caller's
 * host ids, before it runs anything: what it forks is counted from the
 * start. With CLONE_NEWCGROUP in NS_FLAGS, it then unshares its cgroup
 * namespace, rooted in the cgroups it has just joined. Failures go to
 * ERRFD against the failing record. */
void cgroup_join_self(const struct plan *p, int errfd, unsigned long ns_flags);

/* The helper blocks and ignores signals; a process it starts (the
 * container's, a tool's, criu) begins with default dispositions and an
 * empty mask. */
void reset_signals(void);

#endif
