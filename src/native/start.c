/*
 * igloo-helper start: a container (or a plain user namespace) from a plan.
 *
 *   helper ──clone(namespaces)──> child (the container's init)
 *     │ writes uid_map/gid_map (idmap    │ waits on the "mapped" pipe
 *     │ records; or, test-only, PID      │
 *     │ <pid> on fd 4 and the caller's   │
 *     │ MAPPED) ───────────────────────> │ becomes uid/gid 0 of the namespace
 *     │                                  │ runs the steps, exec
 *     │ <── error pipe: a step_error, or EOF when exec succeeded
 *     │ READY <pid> / ERROR ...
 *     └ foreground: wait, forward signals, EXIT;  detached: monitor
 *
 * All pipes and sockets are close-on-exec; the container's process closes
 * every fd >= 3 but the error pipe before exec, and fd 4 right away.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "console.h"
#include "idmapped.h"
#include "maps.h"
#include "parent.h"
#include "report.h"
#include "sidecar.h"
#include "start.h"
#include "steps.h"
#include "util.h"

/* struct clone_args, VER0 layout (64 bytes) */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls;
};

/* Fork-like clone: the child continues on a copy of our stack. A seccomp
 * filter (e.g. when nested in another runtime's container) may answer
 * ENOSYS to clone3, so fall back to clone. */
static pid_t clone_fork(unsigned long flags)
{
	struct clone_args_v0 a;
	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	long r = syscall(SYS_clone3, &a, sizeof(a));
	if (r < 0 && errno == ENOSYS)
		r = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	return (pid_t)r;
}

/* Read one line from the sync socket (byte by byte: the lines are tiny and
 * nothing may be read beyond the line). Returns 0 on EOF or error. */
static int sync_read_line(char *buf, size_t n)
{
	size_t len = 0;
	for (;;) {
		char ch;
		ssize_t r = read(sync_fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		if (ch == '\n')
			break;
		if (len + 1 < n)
			buf[len++] = ch;
	}
	buf[len] = '\0';
	return 1;
}

/*
 * TEST ONLY (src/native/smoke-test.py): a plan without `idmap` records.
 * TypeScript always sends the maps with the plan (every container has a
 * user namespace and both maps, src/core/config/validate.ts), so it never
 * sees the `PID` line this sends; the smoke test uses it to write the maps
 * itself, to start without a user namespace, and to check ABORT.
 *
 * Wait for the caller's MAPPED (relayed to the child) or ABORT / EOF
 * (child killed, exit 1). If the child dies meanwhile, return: wait_exec()
 * reads why.
 */
static void wait_mapped(pid_t pid, int mapped_w, int err_r)
{
	if (sync_fd < 0) {
		killwait(pid);
		fail(0, "igloo-plan", EBADF,
		     "fd 4 is not open: nobody can send MAPPED");
	}
	for (;;) {
		struct pollfd pf[2] = {{.fd = sync_fd, .events = POLLIN},
				       {.fd = err_r, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			killwait(pid);
			exit(1);
		}
		if (pf[1].revents)
			return;
		if (!pf[0].revents)
			continue;
		char line[64];
		if (!sync_read_line(line, sizeof(line)) || strcmp(line, "ABORT") == 0) {
			killwait(pid);
			exit(1);
		}
		if (strcmp(line, "MAPPED") == 0) {
			if (idmap_apply(pid) < 0) {
				killwait(pid);
				exit(1);
			}
			if (write_all(mapped_w, "M", 1) < 0) {
				/* the child is gone: wait_exec() says why */
			}
			return;
		}
		/* anything else: ignore */
	}
}


static void start_child(const struct plan *p, int mapped_r, int err_w,
			int cons_w, int nullfd)
{
	reset_signals();
	/* Die with the helper until exec (cleared in the exec step). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	sync_close(); /* never ours to pass on */

	/* newuidmap (or Node, for the one-line map of its own uid) writes our
	 * maps as the caller: it checks that the caller owns /proc/PID, which
	 * for a process that is not dumpable belongs to root. Nothing else can
	 * see us yet (we are alone in new namespaces, with the caller's ids),
	 * so we are dumpable until the maps are written, and never after. */
	int dumpable = (p->ns_flags & CLONE_NEWUSER) && geteuid() != 0;
	if (dumpable)
		(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);

	/* 1. Wait for MAPPED. Until the maps are written we have no ids and
	 *    our capabilities in the namespace are useless for files. Without
	 *    a user namespace we wait too: Node may act on the pid first
	 *    (e.g. move it into a cgroup) before anything runs. */
	char ch;
	ssize_t r;
	do
		r = read(mapped_r, &ch, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(1); /* the helper gave up (ABORT, EOF, death) */
	if (dumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		child_fail_at(err_w, 0, "igloo-plan", errno,
			      "PR_SET_DUMPABLE 0: %s", strerror(errno));
	/* Into the container's cgroups (still with the caller's host ids,
	 * which own them), then its own cgroup namespace: the helper, which
	 * stays as the monitor, is never in them. */
	cgroup_join_self(p, err_w, p->ns_flags);
	/* The rootfs is opened while we still have the caller's host ids:
	 * it usually lies in the owner's private (0700) directory, which the
	 * container's root must not be able to traverse. */
	int rootfs_pre = -1;
	const struct record *rootfs = plan_find_step(p, OP_rootfs);
	if (rootfs) {
		rootfs_pre = open(rootfs->argv[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfs_pre < 0)
			child_fail_at(err_w, rootfs->index, "rootfs", errno, "open %s: %s",
				      rootfs->argv[0], strerror(errno));
	}
	/* Likewise `workdir`: a task in a user namespace that maps none of
	 * the caller's ids reaches its directory (below the owner's 0700
	 * one) only through this descriptor. */
	int workdir_pre = -1;
	const struct record *workdir = plan_find_step(p, OP_workdir);
	if (workdir) {
		workdir_pre = open(workdir->argv[0], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (workdir_pre < 0)
			child_fail_at(err_w, workdir->index, "workdir", errno, "open %s: %s",
				      workdir->argv[0], strerror(errno));
	}
	idmap_open_layers(err_w);
	if (p->ns_flags & CLONE_NEWUSER) {
		/* 2. Become root of the new namespace (when 0 is mapped), so
		 *    that what the steps create (mount targets, files on the
		 *    container's own tmpfs, which refuses unmapped owners with
		 *    EOVERFLOW) belongs to the container's root, not to the
		 *    unmapped host uid. The `ids` step sets the final ids. */
		if (setresgid(0, 0, 0) < 0 && errno != EINVAL)
			child_fail_at(err_w, p->ns_index, "namespaces", errno,
				      "setresgid 0 in the new user namespace: %s",
				      strerror(errno));
		if (setresuid(0, 0, 0) < 0 && errno != EINVAL)
			child_fail_at(err_w, p->ns_index, "namespaces", errno,
				      "setresuid 0 in the new user namespace: %s",
				      strerror(errno));
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	}
	close(mapped_r);
	/* A detached init without a pty still gets a session of its own (with
	 * a pty the exec step does it): CRIU refuses a tree whose session
	 * leader is outside its pid namespace. */
	if (p->mode == MODE_DETACHED && p->console != CONSOLE_PTY)
		(void)setsid();

	/* The container's process runs the plan's steps (and never returns). */
	struct child_ctx c;
	child_ctx_init(&c, p, err_w, cons_w, nullfd, rootfs_pre, p->ns_flags);
	c.workdir_pre = workdir_pre;
	run_steps(&c);
}

int cmd_start(struct plan p)
{
	int sigfd = sigfd_setup();

	/* Orphans (of a container without a pid namespace) come to us. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fail(0, "igloo-plan", errno, "PR_SET_CHILD_SUBREAPER: %s",
		     strerror(errno));

	int nullfd = -1, rundirfd = -1;
	if (p.console == CONSOLE_NULL || p.mode == MODE_DETACHED) {
		nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nullfd < 0)
			fail(0, "console", errno, "open /dev/null: %s",
			     strerror(errno));
	}
	if (p.mode == MODE_DETACHED) {
		rundirfd = open(p.rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rundirfd < 0)
			fail(p.rundir_index, "rundir", errno, "open %s: %s",
			     p.rundir, strerror(errno));
	}
	if (p.consolelog && p.mode == MODE_DETACHED && p.console == CONSOLE_PTY &&
	    console_log_open(p.consolelog, p.consolelog_max) < 0)
		fail(p.consolelog_index, "consolelog", errno,
		     "open %s/console.log: %s (it must be a regular file of yours with one link, in a directory only you may write: remove what is in its place)",
		     p.consolelog, strerror(errno));
	int mapped[2], errp[2], cons[2] = {-1, -1};
	pipe_cloexec(mapped);
	pipe_cloexec(errp);
	if (p.console == CONSOLE_PTY &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
		fail(0, "console", errno, "socketpair: %s", strerror(errno));

	idmap_prepare(&p);
	/* With `cgroup` records the child makes its cgroup namespace itself,
	 * once it is in its cgroups (cgroup_join_self), so that the namespace
	 * is rooted there. */
	pid_t pid = clone_fork(p.ncgroups ? p.ns_flags & ~(unsigned long)CLONE_NEWCGROUP
					  : p.ns_flags);
	if (pid < 0) {
		int e = errno;
		const char *list = p.ns_index >= 0 ? p.recs[p.ns_index].argv[0] : "";
		fail(p.ns_index >= 0 ? p.ns_index : 0,
		     p.ns_index >= 0 ? "namespaces" : "igloo-plan", e,
		     "clone (namespaces %s): %s", list, strerror(e));
	}
	if (pid == 0) {
		close(sigfd);
		close(mapped[1]);
		close(errp[0]);
		if (cons[0] >= 0)
			close(cons[0]);
		if (rundirfd >= 0)
			close(rundirfd);
		start_child(&p, mapped[0], errp[1], cons[1], nullfd);
		_exit(1); /* not reached */
	}
	close(mapped[0]);
	close(errp[1]);
	if (cons[1] >= 0)
		close(cons[1]);

	if (p.uidmap || p.gidmap) {
		/* The maps came with the plan: no round trip through Node. An
		 * idmapped rootfs needs them in place first. */
		install_idmaps(pid, &p);
		if (idmap_apply(pid) < 0) {
			killwait(pid);
			exit(1);
		}
		/* The sidecar (user-mode networking) is up before the child
		 * runs a step: see sidecar.c. */
		if (sidecar_launch(&p, pid) < 0) {
			killwait(pid);
			exit(1);
		}
		if (write_all(mapped[1], "M", 1) < 0) {
			/* the child is gone: wait_exec() says why */
		}
	} else {
		/* test only: see wait_mapped */
		sync_send("PID %d", (int)pid);
		wait_mapped(pid, mapped[1], errp[0]);
	}
	close(mapped[1]);
	wait_exec(errp[0], pid);

	int master = p.console == CONSOLE_PTY ? receive_pty_master(cons[0], pid, p.exec_index) : -1;
	int listenfd = -1;
	if (p.mode == MODE_DETACHED && master >= 0) {
		listenfd = console_listen(rundirfd);
		if (listenfd < 0) {
			int e = errno;
			killwait(pid);
			fail(p.rundir_index, "rundir", e, "listen on %s/console.sock: %s",
			     p.rundir, strerror(e));
		}
	}
	sync_send("READY %d", (int)pid);

	if (p.mode == MODE_DETACHED) {
		detach_as_monitor(nullfd);
		run_monitor(pid, master, sigfd, rundirfd, listenfd);
	}
	return wait_foreground(pid, master, sigfd);
}
