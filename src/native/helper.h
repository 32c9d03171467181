/*
 * igloo-helper: shared declarations.
 *
 * The helper is split into:
 *   helper.c   main(), the `start` and `exec` commands (process structure)
 *   plan.c     reading and checking the plan (fd 3)
 *   steps.c    one function per step record, run in the container's process
 *   console.c  the pty relay (foreground/exec) and the detached monitor
 *   maps.c     writing the new user namespace's uid/gid maps
 *   util.c     errno/signal names, I/O loops, SCM_RIGHTS, error reporting
 *   idmapped.c the `rootfsidmap` step (an image under an overlay) and idmap-check
 *   xattrs.c   `xattrs set|copy-tree` and `shift` (ownership, keeping capabilities)
 *   front.c    the `igloo` command's native front: prepared exec and run plans
 *   zygote.c   `zygote`: forks helpers for the library API (no Node fork per call)
 *
 * See PROTOCOL.md for the contract with the TypeScript side.
 */
#ifndef IGLOO_HELPER_H
#define IGLOO_HELPER_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
/* glibc's <sys/mount.h> has the new mount API (open_tree, fsopen,
 * mount_setattr); musl's has not: take its constants from the kernel's
 * headers. The calls themselves go through syscall(2) either way. */
#ifndef FSOPEN_CLOEXEC
#include <linux/mount.h>
#endif

static inline int sys_close_range(unsigned first, unsigned last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags,
				    struct mount_attr *attr, size_t size)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}

#define HELPER_VERSION "1"
#define PLAN_FD 3
#define SYNC_FD 4
#define PLAN_MAX (1024 * 1024) /* bound on the plan size */
#define MSG_MAX 1024           /* bound on one error message */
#define IDMAP_MAX_ENTRIES 340  /* the kernel's limit of lines in uid_map */

enum mode { MODE_FOREGROUND, MODE_DETACHED };
enum console { CONSOLE_INHERIT, CONSOLE_PTY, CONSOLE_NULL };

/* One record of the plan: op name and its arguments (pointers into the
 * plan buffer). index counts records from 0, headers included. */
struct record {
	int index;
	const char *op;
	int argc;
	char **argv;
};

struct plan {
	char *buf;
	size_t len;
	char **strs;
	size_t nstrs;
	struct record *recs;
	size_t nrecs;
	size_t first_step; /* index into recs of the first step record */

	/* header */
	int ns_index; /* record index of `namespaces`, -1 if absent */
	unsigned long ns_flags;
	int join_index; /* record index of `join`, -1 if absent */
	pid_t join_pid;
	unsigned long long join_start; /* `joinstart`: its start time, 0 if absent */
	unsigned long join_flags;
	enum mode mode;
	enum console console;
	const char *rundir;
	int rundir_index;
	int exec_index; /* record index of the final exec */
	/* `idmap uid|gid N ...`: the helper installs the maps itself (no
	 * PID/MAPPED round trip with Node); NULL when absent */
	const struct record *uidmap, *gidmap;
	int is_exec; /* a `join` plan, run by cmd_exec */
};

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
	int pty_slave;  /* slave of the console pty made by `devconsole`, or -1 */
	int own_mntns; /* mounts are allowed: we are in a private mount ns */
	int own_utsns; /* hostname is allowed: we are in a private uts ns */
	int own_netns; /* loopback is allowed: we are in a private net ns */
	mode_t umask;  /* umask to restore before exec */
	const struct record *cur; /* record being executed (for errors) */
};

/* plan.c */
/* is_exec: 0 start, 1 exec, PLAN_ANY: exec if the plan has a `join`
 * record. Returns -1 only for an empty PLAN_ANY plan. */
#define PLAN_ANY 2
int plan_read(struct plan *p, int fd, int is_exec);
unsigned long ns_flag(const char *name);

/* maps.c */
void install_idmaps(pid_t pid, const struct plan *p);

/* helper.c */
void killwait(pid_t pid);

/* steps.c */
void run_steps(struct child_ctx *c) __attribute__((noreturn));
void run_step_range(struct child_ctx *c, size_t from, size_t to);
void child_fail(struct child_ctx *c, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void child_fail_at(int errfd, int index, const char *op, int err,
		   const char *fmt, ...)
	__attribute__((noreturn, format(printf, 5, 6)));
void reset_signals(void);

/* idmapped.c: an image shared through an idmapped mount (rootfsidmap) */
void idmap_prepare(const struct plan *p); /* parent, before clone() */
int idmap_apply(pid_t pid);                /* parent, after MAPPED */
void idmap_open_layers(int err_w);         /* child, before setresuid(0) */
void op_rootfsidmap(struct child_ctx *c, char **a);
int cmd_idmap_check(const char *dir);

/* xattrs.c: xattrs and file capabilities (xattrs set|copy-tree, shift) */
int cmd_xattrs(int argc, char **argv);
int cmd_shift(int argc, char **argv);

/* console.c */
struct fg_state {
	pid_t child;   /* the process we wait for */
	int master;    /* pty master or -1 */
	int sigfd;     /* signalfd */
};
int run_foreground(struct fg_state *st); /* returns the wait status */
void run_monitor(pid_t init, int master, int sigfd, int rundirfd,
		 int listenfd) __attribute__((noreturn));
int console_listen(int rundirfd);

/* util.c */
const char *errno_name(int err, char *buf, size_t n);
const char *signal_name(int sig, char *buf, size_t n);
int write_all(int fd, const void *buf, size_t n);
ssize_t read_full(int fd, void *buf, size_t n);
int send_fd(int sock, int fd);
int recv_fd(int sock);
int parse_ulong(const char *s, int base, unsigned long *out);
void sync_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_error(int index, const char *op, int err, const char *msg);
void fail(int index, const char *op, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
void status_text(int status, char *buf, size_t n);
int status_exit_code(int status);
void sanitize_line(char *s);
unsigned long long proc_start_time(long pid); /* field 22 of /proc/PID/stat; 0: gone */
extern int sync_fd; /* SYNC_FD, or -1 once closed */
extern int front_mode; /* run as `igloo`: errors go back to front.c */

/* front.c */
void front_main(int argc, char **argv) __attribute__((noreturn));
void front_note_error(void);

/* helper.c: run the plan on fd 3 as `start` (0), `exec` (1) or as it says
 * (PLAN_ANY); ARGV1, if not NULL, is rewritten to say which. The exit code. */
int helper_run_plan(int is_exec, char *argv1);
extern int plan_console_pty; /* set by front.c: `console inherit` becomes `pty` */

/* zygote.c: fork helpers for a long-lived Node process */
int cmd_zygote(char *argv1);

#endif
