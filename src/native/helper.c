/*
 * igloo-helper: main and the process structure of `start` and `exec`.
 *
 * start:
 *
 *   helper ──clone(namespaces)──> child (the container's init)
 *     │ writes uid_map/gid_map (idmap    │ waits on the "mapped" pipe
 *     │ records; or PID <pid> on fd 4,   │
 *     │ Node maps, sends MAPPED) ──────> │ becomes uid/gid 0 of the namespace
 *     │                                  │ runs the steps, exec
 *     │ <── error pipe: a step_error, or EOF when exec succeeded
 *     │ READY <pid> / ERROR ...
 *     └ foreground: wait, forward signals, EXIT;  detached: monitor
 *
 * exec:
 *
 *   helper (stays on the host) ──fork──> middle ──setns(init's pidfd, user
 *     first, mnt last), then every step but exec (chdir, rlimit, caps, nnp,
 *     ids, seccomp)──clone(CLONE_PARENT)──> process (inside the pid
 *     namespace, but the helper's child, so the helper can wait for it):
 *     session/terminal, execve
 *
 * The middle is invisible from the container (it is not in its pid
 * namespace); the process that is visible has the container's credentials
 * from its first instant. Every process of this binary is non-dumpable
 * (not_dumpable() below), so container root cannot ptrace it or open its
 * /proc/PID/{exe,mem,fd} before its execve.
 *
 * All pipes and sockets are close-on-exec; the container's process closes
 * every fd >= 3 but the error pipe before exec, and fd 4 right away.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* struct clone_args, VER0 layout (64 bytes) */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls;
};

/* Fork-like clone: the child continues on a copy of our stack. clone3 is
 * needed for CLONE_NEWTIME; a seccomp filter (e.g. when nested in another
 * runtime's container) may answer ENOSYS to clone3, so fall back. */
static pid_t clone_fork(unsigned long flags)
{
	struct clone_args_v0 a;
	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	long r = syscall(SYS_clone3, &a, sizeof(a));
	if (r < 0 && errno == ENOSYS && !(flags & CLONE_NEWTIME))
		r = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	return (pid_t)r;
}

static int sigfd_setup(void)
{
	/* Block the signals we handle before any child exists, so that none
	 * is lost; the children unblock them (reset_signals). */
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
		      SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fail(0, "igloo-plan", errno, "sigprocmask: %s", strerror(errno));
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		fail(0, "igloo-plan", errno, "signalfd: %s", strerror(errno));
	/* A vanished reader of fd 4 or of stdout must not kill the helper. */
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

static void pipe_cloexec(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		fail(0, "igloo-plan", errno, "pipe: %s", strerror(errno));
}

void killwait(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
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

/* Wait for Node's MAPPED (relayed to the child) or ABORT / EOF (child
 * killed, exit 1). If the child dies meanwhile, return: wait_exec() reads
 * why. */
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

/* Wait for the exec: EOF on the error pipe is success; a step_error is
 * reported as ERROR and the helper exits 1 (after reaping `pid`). */
static void wait_exec(int err_r, pid_t pid)
{
	struct step_error e;
	ssize_t n = read_full(err_r, &e, sizeof(e));
	close(err_r);
	if (n == 0)
		return;
	if (n == (ssize_t)sizeof(e)) {
		e.op[sizeof(e.op) - 1] = '\0';
		e.msg[sizeof(e.msg) - 1] = '\0';
		report_error(e.index, e.op, e.err, e.msg);
	} else {
		report_error(0, "igloo-plan", EIO,
			     "short read on the error pipe");
	}
	if (pid > 0)
		killwait(pid);
	exit(1);
}

/* fds 0-2 must exist, or our own pipes would land on them. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n < 0)
				exit(1);
			if (n != fd) {
				if (dup2(n, fd) < 0)
					exit(1);
				close(n);
			}
		}
	}
}

/* ---- start ------------------------------------------------------------ */

/* The container's process, right after clone(). */
/* The container's process runs the plan's steps (and never returns).
 * NS_FLAGS are the namespaces it owns or joined: mounts and the hostname
 * are refused without a private mount or uts namespace. */
static void run_child_steps(const struct plan *p, int err_w, int cons_w, int nullfd,
			    int rootfs_pre, unsigned long ns_flags)
{
	struct child_ctx c = {
		.plan = p,
		.errfd = err_w,
		.consfd = cons_w,
		.nullfd = nullfd,
		.rootfd = -1,
		.rootfs_pre = rootfs_pre,
		.pty_slave = -1,
		.own_mntns = (ns_flags & CLONE_NEWNS) != 0,
		.own_utsns = (ns_flags & CLONE_NEWUTS) != 0,
		.own_netns = (ns_flags & CLONE_NEWNET) != 0,
		.cur = NULL,
	};
	/* Steps create files with the modes the plan says; the caller's
	 * umask comes back just before exec. */
	c.umask = umask(0);
	run_steps(&c);
}

static void start_child(const struct plan *p, int mapped_r, int err_w,
			int cons_w, int nullfd)
{
	reset_signals();
	/* Die with the helper until exec (cleared in the exec step). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (sync_fd >= 0)
		close(sync_fd); /* never ours to pass on */
	sync_fd = -1;

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
	/* The rootfs is opened while we still have the caller's host ids:
	 * it usually lies in the owner's private (0700) directory, which the
	 * container's root must not be able to traverse. */
	int rootfs_pre = -1;
	for (size_t i = p->first_step; i < p->nrecs; i++) {
		if (strcmp(p->recs[i].op, "rootfs") == 0) {
			rootfs_pre = open(p->recs[i].argv[0],
					  O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (rootfs_pre < 0)
				child_fail_at(err_w, p->recs[i].index, "rootfs",
					      errno, "open %s: %s",
					      p->recs[i].argv[0],
					      strerror(errno));
			break;
		}
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

	run_child_steps(p, err_w, cons_w, nullfd, rootfs_pre, p->ns_flags);
}

/* After READY, the helper becomes the container's monitor: no tie to Node
 * (fd 4), to a terminal (stdio to /dev/null, a session of its own) or to a
 * directory any more. */
static void detach_as_monitor(int nullfd)
{
	if (sync_fd >= 0)
		close(sync_fd);
	sync_fd = -1;
	if (chdir("/") < 0) {
		/* not fatal: the monitor uses no relative path */
	}
	for (int i = 0; i < 3; i++)
		(void)dup2(nullfd, i);
	close(nullfd);
	(void)setsid(); /* fails harmlessly if Node made us a leader */
	/* Dumpable again, as any process of its owner: the monitor lives on
	 * the host only (the container's pid namespace has no pid for it) and
	 * holds nothing the owner may not see, and `igloo ps`/`tree` read its
	 * /proc/PID/ns links as the owner (a non-dumpable process's are
	 * root's). */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static int cmd_start(struct plan p)
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
	int mapped[2], errp[2], cons[2] = {-1, -1};
	pipe_cloexec(mapped);
	pipe_cloexec(errp);
	if (p.console == CONSOLE_PTY &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
		fail(0, "console", errno, "socketpair: %s", strerror(errno));

	idmap_prepare(&p);
	pid_t pid = clone_fork(p.ns_flags);
	if (pid < 0) {
		int e = errno;
		const char *list = "";
		for (size_t i = 0; i < p.first_step; i++)
			if (strcmp(p.recs[i].op, "namespaces") == 0)
				list = p.recs[i].argv[0];
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
		if (write_all(mapped[1], "M", 1) < 0) {
			/* the child is gone: wait_exec() says why */
		}
	} else {
		sync_send("PID %d", (int)pid);
		wait_mapped(pid, mapped[1], errp[0]);
	}
	close(mapped[1]);
	wait_exec(errp[0], pid);

	int master = -1;
	if (p.console == CONSOLE_PTY) {
		master = recv_fd(cons[0]);
		if (master < 0) {
			int e = errno;
			killwait(pid);
			fail(p.exec_index, "exec", e,
			     "receive the pty master: %s", strerror(e));
		}
		close(cons[0]);
	}
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
	struct fg_state st = {.child = pid, .master = master, .sigfd = sigfd};
	int status = run_foreground(&st);
	char text[64];
	status_text(status, text, sizeof(text));
	sync_send("EXIT %s", text);
	return status_exit_code(status);
}

/* ---- exec ------------------------------------------------------------- */

/*
 * Joining order: user first (it gives the capabilities needed for the
 * others), mnt last (after it, /proc is the container's), pid and time
 * take effect for children only: hence the second fork.
 *
 * Every namespace is joined through a pidfd of init (setns(pidfd, flag)),
 * opened before anything else and checked against init's start time
 * (`joinstart`) after it was opened: a pidfd names one process for good, so
 * a pid recycled after the check cannot point the join at another one.
 */
static const char *const join_order[] = {"user", "ipc", "uts", "net",
					 "cgroup", "time", "pid", "mnt"};
#define NJOIN (sizeof(join_order) / sizeof(join_order[0]))

#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9) /* linux/pidfd.h, 6.11 */
#endif

/* Whether PIDFD's process is in our own user namespace (setns into the
 * namespace we are in is EINVAL). */
static int same_userns(int pidfd, pid_t pid)
{
	struct stat a, b;
	if (stat("/proc/self/ns/user", &b) < 0)
		return 0;
	int fd = ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0);
	if (fd >= 0) {
		int r = fstat(fd, &a);
		close(fd);
		if (r < 0)
			return 0;
	} else {
		/* an older kernel: a comparison only, the join itself goes
		 * through the pidfd */
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		if (stat(path, &a) < 0)
			return 0;
	}
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Opens the pidfd of the plan's init and checks it is the process the plan
 * was made for; -1 (with the error reported on ERR_W) otherwise. */
static int open_init_pidfd(const struct plan *p, int err_w)
{
	int pidfd = (int)syscall(SYS_pidfd_open, p->join_pid, 0);
	if (pidfd < 0)
		child_fail_at(err_w, p->join_index, "join", errno,
			      "pidfd_open %d: %s", (int)p->join_pid,
			      strerror(errno));
	/* After pidfd_open: if the start time still matches now, the pidfd
	 * is that process (no two processes share a pid at once). */
	if (p->join_start && proc_start_time(p->join_pid) != p->join_start)
		child_fail_at(err_w, p->join_index, "join", ESRCH,
			      "pid %d is no longer the container's init (start time %llu)",
			      (int)p->join_pid, p->join_start);
	return pidfd;
}

static void join_namespaces(const struct plan *p, int err_w)
{
	int pidfd = open_init_pidfd(p, err_w);
	int pending[NJOIN];
	for (size_t i = 0; i < NJOIN; i++)
		pending[i] = (p->join_flags & ns_flag(join_order[i])) != 0;
	/* First try the others from where we are: a namespace the caller
	 * already has privilege over (root, for a restored container's cgroup
	 * namespace, which CRIU recreates owned by the initial user namespace)
	 * can be joined only now; once in the container's user namespace that
	 * privilege is gone. EPERM means "join it after the user namespace". */
	for (size_t i = 1; i < NJOIN; i++) {
		if (!pending[i] || strcmp(join_order[i], "mnt") == 0)
			continue;
		if (setns(pidfd, (int)ns_flag(join_order[i])) == 0)
			pending[i] = 0;
		else if (errno != EPERM)
			child_fail_at(err_w, p->join_index, "join", errno,
				      "setns %s of pid %d: %s", join_order[i],
				      (int)p->join_pid, strerror(errno));
	}
	if (pending[0] && same_userns(pidfd, p->join_pid))
		pending[0] = 0;
	for (size_t i = 0; i < NJOIN; i++) {
		if (!pending[i])
			continue;
		if (setns(pidfd, (int)ns_flag(join_order[i])) < 0)
			child_fail_at(err_w, p->join_index, "join", errno,
				      "setns %s of pid %d: %s", join_order[i],
				      (int)p->join_pid, strerror(errno));
	}
	close(pidfd);
}

/*
 * The middle process: joins the namespaces, then runs every step of the
 * plan but `exec` (chdir, rlimits, caps, no_new_privs, ids, seccomp) while
 * it is still outside the container's pid namespace, where nothing in the
 * container can see it. Only then does it clone the process that appears in
 * the container: that one already has the container's ids, bounding set,
 * no_new_privs and filter, and is not dumpable (set at the helper's start,
 * inherited, reset by execve), so container root can neither ptrace it nor
 * open its /proc/PID/{exe,mem,fd}: it only sets up its terminal and execs.
 */
static void exec_middle(const struct plan *p, int err_w, int pid_w, int cons_w,
			int nullfd)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (sync_fd >= 0)
		close(sync_fd); /* never ours to pass on */
	sync_fd = -1;

	join_namespaces(p, err_w);
	if ((p->join_flags & CLONE_NEWNS) && chdir("/") < 0)
		child_fail_at(err_w, p->join_index, "join", errno, "chdir /: %s",
			      strerror(errno));

	struct child_ctx c = {
		.plan = p,
		.errfd = err_w,
		.consfd = cons_w,
		.nullfd = nullfd,
		.rootfd = -1,
		.rootfs_pre = -1,
		.pty_slave = -1,
		.own_mntns = (p->join_flags & CLONE_NEWNS) != 0,
		.own_utsns = (p->join_flags & CLONE_NEWUTS) != 0,
		.own_netns = (p->join_flags & CLONE_NEWNET) != 0,
		.cur = NULL,
	};
	c.umask = umask(0);
	/* everything but the final `exec` record */
	run_step_range(&c, p->first_step, p->nrecs - 1);

	/* CLONE_PARENT: the process becomes the helper's child (so the helper
	 * can wait for it and forward signals) while being created in the
	 * joined pid namespace. */
	pid_t g = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL,
				 NULL, NULL);
	if (g < 0)
		child_fail_at(err_w, p->join_index, "join", errno, "clone: %s",
			      strerror(errno));
	if (g == 0) {
		reset_signals();
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pid_w);
		run_step_range(&c, p->nrecs - 1, p->nrecs); /* exec: no return */
		_exit(1);
	}
	int v = (int)g;
	if (write_all(pid_w, &v, sizeof(v)) < 0)
		_exit(1);
	_exit(0);
}

static int cmd_exec(struct plan p)
{
	int sigfd = sigfd_setup();
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);

	int nullfd = -1;
	if (p.console == CONSOLE_NULL) {
		nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nullfd < 0)
			fail(0, "console", errno, "open /dev/null: %s",
			     strerror(errno));
	}
	int errp[2], pidp[2], cons[2] = {-1, -1};
	pipe_cloexec(errp);
	pipe_cloexec(pidp);
	if (p.console == CONSOLE_PTY &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)
		fail(0, "console", errno, "socketpair: %s", strerror(errno));

	/* The helper itself never joins anything: it stays on the host with
	 * the caller's terminal. */
	pid_t mid = fork();
	if (mid < 0)
		fail(p.join_index, "join", errno, "fork: %s", strerror(errno));
	if (mid == 0) {
		close(sigfd);
		close(errp[0]);
		close(pidp[0]);
		if (cons[0] >= 0)
			close(cons[0]);
		exec_middle(&p, errp[1], pidp[1], cons[1], nullfd);
		_exit(1);
	}
	close(errp[1]);
	close(pidp[1]);
	if (cons[1] >= 0)
		close(cons[1]);

	int g = -1;
	ssize_t n = read_full(pidp[0], &g, sizeof(g));
	close(pidp[0]);
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(g)) {
		/* the middle process failed: its error is on the pipe */
		wait_exec(errp[0], -1);
		fail(p.join_index, "join", EIO, "the joining process died");
	}
	wait_exec(errp[0], g);

	int master = -1;
	if (p.console == CONSOLE_PTY) {
		master = recv_fd(cons[0]);
		if (master < 0) {
			int e = errno;
			killwait(g);
			fail(p.exec_index, "exec", e, "receive the pty master: %s",
			     strerror(e));
		}
		close(cons[0]);
	}
	sync_send("READY %d", g);
	struct fg_state st = {.child = g, .master = master, .sigfd = sigfd};
	int status = run_foreground(&st);
	char text[64];
	status_text(status, text, sizeof(text));
	sync_send("EXIT %s", text);
	return status_exit_code(status);
}

/* ---- restore ---------------------------------------------------------- */

/*
 * igloo-helper restore RUNDIR CRIU ARG...: runs `CRIU ARG...` (a `criu
 * restore -d --restore-sibling --pidfile RUNDIR/restore.pid ...`) as our
 * child while we are a child subreaper, so the restored init becomes our
 * child (CLONE_PARENT from criu, or reparented to us when criu exits); then
 * we are its monitor exactly as after a detached start (no pty).
 */
/*
 * restore --console KEY UID GID: a new console pty for the restored
 * container, from the host's devpts, its slave owned by the container's
 * root (UID GID on the host). The dump made the old console external (its
 * slave fds `--external KEY`, its /dev/console bind `--external
 * mnt[/dev/console]:console`); criu gets the new slave in place of both:
 * `--inherit-fd fd[N]:KEY --external mnt[console]:/dev/pts/M`. Returns the
 * master; *argvp becomes ARG... with those four arguments appended.
 */
static int restore_console_pty(const char *key, const char *uid, const char *gid,
			       char ***argvp, int *slave)
{
	unsigned long u, g;
	if (parse_ulong(uid, 10, &u) < 0 || parse_ulong(gid, 10, &g) < 0)
		fail(0, "restore", EINVAL, "--console: bad ids %s %s", uid, gid);
	int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		fail(0, "restore", errno, "open /dev/pts/ptmx: %s", strerror(errno));
	int unlock = 0, index = -1;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &index) < 0)
		fail(0, "restore", errno, "unlock the new console pty: %s",
		     strerror(errno));
	/* not close-on-exec: criu inherits it */
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s < 0)
		fail(0, "restore", errno, "open the new console's slave: %s",
		     strerror(errno));
	if (fchown(s, (uid_t)u, (gid_t)g) < 0)
		fail(0, "restore", errno, "chown the new console's slave: %s",
		     strerror(errno));
	static char fdarg[128], mntarg[64];
	snprintf(fdarg, sizeof(fdarg), "fd[%d]:%s", s, key);
	snprintf(mntarg, sizeof(mntarg), "mnt[console]:/dev/pts/%d", index);
	char **old = *argvp;
	size_t n = 0;
	while (old[n])
		n++;
	char **nv = calloc(n + 5, sizeof(char *));
	if (!nv)
		fail(0, "restore", ENOMEM, "out of memory");
	memcpy(nv, old, n * sizeof(char *));
	nv[n] = "--inherit-fd";
	nv[n + 1] = fdarg;
	nv[n + 2] = "--external";
	nv[n + 3] = mntarg;
	*argvp = nv;
	*slave = s;
	return m;
}

static int cmd_restore(int argc, char **argv)
{
	const char *ckey = NULL, *cuid = NULL, *cgid = NULL;
	if (argc >= 6 && strcmp(argv[2], "--console") == 0) {
		ckey = argv[3];
		cuid = argv[4];
		cgid = argv[5];
		argv += 4;
		argc -= 4;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: igloo-helper restore [--console KEY UID GID] RUNDIR CRIU [ARG...]\n");
		return 2;
	}
	const char *rundir = argv[2];
	int sigfd = sigfd_setup();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fail(0, "restore", errno, "PR_SET_CHILD_SUBREAPER: %s",
		     strerror(errno));
	int rundirfd = open(rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rundirfd < 0)
		fail(0, "restore", errno, "open %s: %s", rundir, strerror(errno));
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		fail(0, "restore", errno, "open /dev/null: %s", strerror(errno));
	/* Our own session first: the restored tree's sessions are its own. */
	(void)setsid();
	char **cargv = argv + 3;
	int master = -1, slave = -1;
	if (ckey)
		master = restore_console_pty(ckey, cuid, cgid, &cargv, &slave);

	pid_t criu = fork();
	if (criu < 0)
		fail(0, "restore", errno, "fork: %s", strerror(errno));
	if (criu == 0) {
		reset_signals();
		if (sync_fd >= 0)
			close(sync_fd);
		/* criu's output goes to its log; stdin is /dev/null. */
		(void)dup2(nullfd, 0);
		execv(cargv[0], cargv);
		fprintf(stderr, "igloo-helper: exec %s: %s\n", argv[3],
			strerror(errno));
		_exit(127);
	}
	int ws = 0;
	while (waitpid(criu, &ws, 0) < 0) {
		if (errno != EINTR)
			fail(0, "restore", errno, "waitpid: %s", strerror(errno));
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		char text[64];
		status_text(ws, text, sizeof(text));
		/* criu kills what it restored when it fails. */
		fail(0, "restore", EIO, "criu restore %s (see its log)", text);
	}
	char buf[32];
	ssize_t n = -1;
	int pf = openat(rundirfd, "restore.pid", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (pf >= 0) {
		n = read(pf, buf, sizeof(buf) - 1);
		close(pf);
	}
	unsigned long pid = 0;
	if (n > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	}
	if (n <= 0 || parse_ulong(buf, 10, &pid) < 0 || pid == 0 ||
	    kill((pid_t)pid, 0) < 0)
		fail(0, "restore", ESRCH,
		     "criu restore left no live init in %s/restore.pid", rundir);
	(void)unlinkat(rundirfd, "restore.pid", 0);
	int listenfd = -1;
	if (master >= 0) {
		/* the restored processes hold the slave now; the monitor
		 * takes a peer of its own */
		close(slave);
		listenfd = console_listen(rundirfd);
		if (listenfd < 0) {
			int e = errno;
			killwait((pid_t)pid);
			fail(0, "restore", e, "listen on %s/console.sock: %s",
			     rundir, strerror(e));
		}
	}
	sync_send("READY %lu", pid);
	detach_as_monitor(nullfd);
	/* SIGCHLD of an init that died before this point is still pending on
	 * the signalfd: run_monitor reaps it at once. */
	run_monitor((pid_t)pid, master, sigfd, rundirfd, listenfd);
}

int plan_console_pty; /* front.c: run a `console inherit` plan with a pty */

int helper_run_plan(int is_exec, char *argv1)
{
	struct plan p;
	if (plan_read(&p, PLAN_FD, is_exec) < 0)
		return 0;
	if (plan_console_pty && p.console == CONSOLE_INHERIT)
		p.console = CONSOLE_PTY;
	/* A helper forked by the zygote: its command line now says
	 * start or exec, as ps shows it for the monitor's whole life (the
	 * words fit in the same bytes). */
	if (argv1)
		strncpy(argv1, p.is_exec ? "exec" : "start", strlen(argv1));
	return p.is_exec ? cmd_exec(p) : cmd_start(p);
}

/*
 * Not dumpable from the start, in every mode (the `igloo` front, start,
 * exec, the zygote and the helpers it forks, the monitor): a process that
 * is not dumpable can be ptraced, and its /proc/PID/{exe,mem,fd,environ,
 * ns} opened, only with CAP_SYS_PTRACE in the user namespace this binary
 * was exec'd in (the host's), never by a container's root. fork() and
 * clone() inherit it; execve() of the container's program resets it. The
 * exceptions: the start child while newuidmap writes its maps (see
 * start_child), and the detached monitor (detach_as_monitor).
 */
__attribute__((constructor)) static void not_dumpable(void)
{
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
	/* Run as `igloo` (a link to this binary): the command's native front. */
	const char *base = strrchr(argv[0], '/');
	if (strcmp(base ? base + 1 : argv[0], "igloo") == 0) {
		ensure_stdio();
		front_main(argc, argv);
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("igloo-helper %s\n", HELPER_VERSION);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "idmap-check") == 0)
		return cmd_idmap_check(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "xattrs") == 0)
		return cmd_xattrs(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "shift") == 0)
		return cmd_shift(argc, argv);
	if (argc == 2 && strcmp(argv[1], "zygote") == 0) {
		ensure_stdio();
		return cmd_zygote(argv[1]);
	}
	if (argc >= 2 && strcmp(argv[1], "restore") == 0) {
		ensure_stdio();
		if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
			sync_fd = -1;
		return cmd_restore(argc, argv);
	}
	if (argc != 2 || (strcmp(argv[1], "start") != 0 && strcmp(argv[1], "exec") != 0)) {
		fprintf(stderr, "usage: igloo-helper start|exec|zygote|restore|--version\n"
				"  (plan on fd 3, sync socket on fd 4; see PROTOCOL.md)\n");
		return 2;
	}
	ensure_stdio();
	/* fd 4 must not reach anything we exec. */
	if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
		sync_fd = -1;
	if (fcntl(PLAN_FD, F_GETFD) < 0)
		fail(0, "igloo-plan", EBADF, "fd 3 (the plan) is not open");
	return helper_run_plan(strcmp(argv[1], "exec") == 0, NULL);
}
