/*
 * `igloo-helper zygote`: forks helpers for a long-lived Node process (the
 * library API). Node forks itself to spawn a process, which costs it 5 to
 * 20 ms of its main thread (the copy of its page tables grows with its
 * heap) on every start, run and exec. The zygote is spawned once; after
 * that, each helper is a fork of this small process, asked for over a unix
 * socket that Node connects to.
 *
 *   Node ──spawn once──> zygote: fd 3 a pipe to Node (EOF: Node is gone,
 *     exit), prints "ZYGOTE <abstract socket name>\n" on it
 *   Node ──connect──> zygote ──fork──> helper: fd 4 the connection (the
 *     sync socket), fd 3 a memfd with the plan, read from the connection as
 *     "PLAN <length>\n<plan>"; a plan with `join` runs as exec, any other as
 *     start, and the helper's argv[1] then says which (as ps shows it).
 *
 * Only Node, the zygote's parent, may connect (SO_PEERCRED pid and uid): the
 * abstract name is visible to every process in the network namespace. The
 * helpers inherit the zygote's stdio, environment and directory, which are
 * those Node had when it started the zygote.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper.h"
#include "report.h"
#include "util.h"
#include "zygote.h"

#define CONTROL_FD 3

/* "PLAN <length>\n": byte by byte, so that nothing past the line is read. */
static long read_plan_length(int fd)
{
	char line[32];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		ssize_t r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	unsigned long len;
	if (strncmp(line, "PLAN ", 5) != 0 || parse_ulong(line + 5, 10, &len) < 0 ||
	    len > PLAN_MAX)
		return -1;
	return (long)len;
}

/* The forked helper: the plan into a memfd on fd 3, the connection on fd 4. */
static void __attribute__((noreturn)) serve(int conn, char *argv1)
{
	signal(SIGCHLD, SIG_DFL);
	long len = read_plan_length(conn);
	if (len < 0)
		_exit(2);
	int mem = (int)syscall(SYS_memfd_create, "igloo-plan", MFD_CLOEXEC);
	if (mem < 0)
		_exit(2);
	char buf[4096]; /* small: every monitor keeps the pages its stack touched */
	for (long left = len; left > 0;) {
		ssize_t r = read(conn, buf, left < (long)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || write_all(mem, buf, (size_t)r) < 0)
			_exit(2);
		left -= r;
	}
	/* dup2 clears close-on-exec: set it again (fd 4 must reach nothing we exec) */
	if (lseek(mem, 0, SEEK_SET) < 0 || dup2(mem, PLAN_FD) < 0 || dup2(conn, SYNC_FD) < 0 ||
	    fcntl(PLAN_FD, F_SETFD, FD_CLOEXEC) < 0 || fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
		_exit(2);
	if (mem != PLAN_FD)
		close(mem);
	if (conn != SYNC_FD)
		close(conn);
	sync_fd = SYNC_FD;
	exit(helper_run_plan(PLAN_ANY, 0, argv1));
}

int cmd_zygote(char *argv1)
{
	signal(SIGPIPE, SIG_IGN);
	/* Helpers that end are reaped by the kernel; each helper undoes this. */
	signal(SIGCHLD, SIG_IGN);
	if (fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "igloo-helper zygote: fd 3 (to Node) is not open\n");
		return 2;
	}
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return 2;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return 2;
	/* abstract: sun_path[0] is NUL, the name follows */
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
			 "igloo-zygote-%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(), rnd[0],
			 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (n < 0)
		return 2;
	/* The whole sun_path, NUL-padded: Node 20 connects to an abstract
	 * name with that length, not the name's own. */
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 64) < 0)
		return 2;
	char hello[128];
	int hn = snprintf(hello, sizeof(hello), "ZYGOTE %s\n", addr.sun_path + 1);
	if (write_all(CONTROL_FD, hello, (size_t)hn) < 0)
		return 2;
	pid_t node = getppid();
	uid_t uid = geteuid();
	for (;;) {
		struct pollfd fds[2] = {{.fd = lfd, .events = POLLIN},
					{.fd = CONTROL_FD, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 2;
		}
		if (fds[1].revents)
			return 0; /* Node is gone (EOF), or wrote to us: either way, done */
		if (!(fds[0].revents & POLLIN))
			continue;
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    cred.pid != node || cred.uid != uid) {
			close(conn);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			close(CONTROL_FD);
			serve(conn, argv1);
		}
		close(conn); /* a failed fork: Node sees the connection close */
	}
}
