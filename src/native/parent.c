/*
 * igloo-helper: the helper's side of its children (parent.h), shared by
 * start, exec and restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "console.h"
#include "parent.h"
#include "report.h"
#include "util.h"

int sigfd_setup(void)
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

void pipe_cloexec(int p[2])
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

/* Wait for the exec: EOF on the error pipe is success; a step_error is
 * reported as ERROR and the helper exits 1 (after reaping `pid`). */
void wait_exec(int err_r, pid_t pid)
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

/* After READY, the helper becomes the container's monitor: no tie to Node
 * (fd 4), to a terminal (stdio to /dev/null, a session of its own) or to a
 * directory any more. */
int receive_pty_master(int sock, pid_t pid, int exec_index)
{
	int master = recv_fd(sock);
	if (master < 0) {
		int e = errno;
		killwait(pid);
		fail(exec_index, "exec", e, "receive the pty master: %s", strerror(e));
	}
	close(sock);
	return master;
}

int wait_foreground(pid_t pid, int master, int sigfd)
{
	struct fg_state st = {.child = pid, .master = master, .sigfd = sigfd};
	int status = run_foreground(&st);
	char text[64];
	status_text(status, text, sizeof(text));
	sync_send("EXIT %s", text);
	return status_exit_code(status);
}

void detach_as_monitor(int nullfd)
{
	sync_close();
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
