/*
 * igloo-helper exec: a process in a running container.
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
 * (not_dumpable() in main.c), so container root cannot ptrace it or open
 * its /proc/PID/{exe,mem,fd} before its execve.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "console.h"
#include "exec.h"
#include "oci.h"
#include "parent.h"
#include "report.h"
#include "steps.h"
#include "util.h"
#include "failpoint.h"

/*
 * Joining order: user first (it gives the capabilities needed for the
 * others), mnt last (after it, /proc is the container's), pid takes effect
 * for children only: hence the second fork.
 *
 * Every namespace is joined through a pidfd of init (setns(pidfd, flag)),
 * opened before anything else and checked against init's start time
 * (`joinstart`) after it was opened: a pidfd names one process for good, so
 * a pid recycled after the check cannot point the join at another one.
 */
static const char *const join_order[] = {"user", "ipc", "uts", "net",
					 "cgroup", "pid", "mnt"};
#define NJOIN (sizeof(join_order) / sizeof(join_order[0]))

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
	sync_close(); /* never ours to pass on */

	/* The container's cgroups first, with the caller's host ids (the
	 * process cloned below inherits them; the helper stays outside). */
	cgroup_join_self(p, err_w, 0);
	join_namespaces(p, err_w);
	if ((p->join_flags & CLONE_NEWNS) && chdir("/") < 0)
		child_fail_at(err_w, p->join_index, "join", errno, "chdir /: %s",
			      strerror(errno));

	struct child_ctx c;
	child_ctx_init(&c, p, err_w, cons_w, nullfd, -1, p->join_flags);
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

int cmd_exec(struct plan p)
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
	int consock = console_socket_connect(&p);
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
		if (consock >= 0)
			close(consock);
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
	failpoint("exec-joined");

	int master = p.console == CONSOLE_PTY ? receive_pty_master(cons[0], g, p.exec_index) : -1;
	if (consock >= 0) {
		/* the engine holds the terminal: it relays, not us */
		console_socket_send(&p, consock, master);
		close(master);
		master = -1;
	}
	sync_send("READY %d", g);
	/* detached (the OCI runtime's exec --detach): the process is left to
	 * the engine's subreaper, which reaps it. */
	if (p.mode == MODE_DETACHED)
		return 0;
	return wait_foreground(g, master, sigfd);
}
