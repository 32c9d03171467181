/*
 * sockets DIR: a test program for checkpoint/restore (test/integration/
 * criu-sockets.test.ts), built static and run inside a container.
 *
 * Three connected stream channels between two processes:
 *   pair  a socketpair(AF_UNIX)
 *   unix  a connection to a listening unix socket bound on DIR/u.sock
 *   tcp   a connection to a listening socket on 127.0.0.1 (the container's
 *         loopback, which must be up)
 * The child writes the same counter ("N\n", every 50 ms) to all three; the
 * parent reads each and checks that every channel delivers 1, 2, 3, ...
 * with nothing lost or repeated. After each line it rewrites DIR/<channel>
 * with "N ok" (or "N broken: why" and stops reading that channel). So after
 * a restore the files going on counting "ok" prove that the very same
 * connections survived. Both processes keep their listening sockets open.
 *
 * sockets --hold-landlock: holds a Landlock ruleset fd and waits. CRIU
 * cannot dump that kind of file, so it fails the dump halfway (the tree is
 * frozen by then): the test of a failed checkpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 3
static const char *names[N] = {"pair", "unix", "tcp"};
static const char *dir;

static void die(const char *what)
{
	char path[512], msg[256];
	snprintf(path, sizeof(path), "%s/error", dir);
	int n = snprintf(msg, sizeof(msg), "%s: %s\n", what, strerror(errno));
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		(void)!write(fd, msg, (size_t)n);
		close(fd);
	}
	exit(1);
}

static void report(int i, unsigned long last, const char *state)
{
	char path[512], tmp[520], line[128];
	snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(line, sizeof(line), "%lu %s\n", last, state);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open report");
	if (write(fd, line, (size_t)n) != n)
		die("write report");
	close(fd);
	if (rename(tmp, path) < 0)
		die("rename report");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--hold-landlock") == 0) {
		/* struct landlock_ruleset_attr { u64 handled_access_fs; } */
		unsigned long long attr = 1; /* LANDLOCK_ACCESS_FS_EXECUTE */
		if (syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0) < 0) {
			perror("landlock_create_ruleset");
			return 1;
		}
		for (;;)
			pause();
	}
	if (argc != 2) {
		fprintf(stderr, "usage: sockets DIR | sockets --hold-landlock\n");
		return 2;
	}
	dir = argv[1];
	int rd[N], wr[N];

	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		die("socketpair");
	rd[0] = sp[0];
	wr[0] = sp[1];

	struct sockaddr_un su;
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	snprintf(su.sun_path, sizeof(su.sun_path), "%s/u.sock", dir);
	unlink(su.sun_path);
	int ul = socket(AF_UNIX, SOCK_STREAM, 0);
	if (ul < 0 || bind(ul, (struct sockaddr *)&su, sizeof(su)) < 0 || listen(ul, 1) < 0)
		die("unix listen");
	wr[1] = socket(AF_UNIX, SOCK_STREAM, 0);
	if (wr[1] < 0 || connect(wr[1], (struct sockaddr *)&su, sizeof(su)) < 0)
		die("unix connect");
	rd[1] = accept(ul, NULL, NULL);
	if (rd[1] < 0)
		die("unix accept");

	struct sockaddr_in si;
	socklen_t sl = sizeof(si);
	memset(&si, 0, sizeof(si));
	si.sin_family = AF_INET;
	si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int tl = socket(AF_INET, SOCK_STREAM, 0);
	if (tl < 0 || bind(tl, (struct sockaddr *)&si, sizeof(si)) < 0 || listen(tl, 1) < 0 ||
	    getsockname(tl, (struct sockaddr *)&si, &sl) < 0)
		die("tcp listen (is lo up?)");
	wr[2] = socket(AF_INET, SOCK_STREAM, 0);
	if (wr[2] < 0 || connect(wr[2], (struct sockaddr *)&si, sizeof(si)) < 0)
		die("tcp connect");
	rd[2] = accept(tl, NULL, NULL);
	if (rd[2] < 0)
		die("tcp accept");

	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		for (int i = 0; i < N; i++)
			close(rd[i]);
		signal(SIGPIPE, SIG_IGN);
		for (unsigned long n = 1;; n++) {
			char line[32];
			int len = snprintf(line, sizeof(line), "%lu\n", n);
			for (int i = 0; i < N; i++)
				if (write(wr[i], line, (size_t)len) != len)
					die("writer: write");
			struct timespec ts = {0, 50 * 1000 * 1000};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	for (int i = 0; i < N; i++)
		close(wr[i]);

	char buf[N][64];
	size_t len[N] = {0};
	unsigned long last[N] = {0};
	int open_ch = N;
	for (int i = 0; i < N; i++)
		report(i, 0, "ok");
	while (open_ch > 0) {
		struct pollfd pf[N];
		for (int i = 0; i < N; i++)
			pf[i] = (struct pollfd){.fd = rd[i], .events = POLLIN};
		if (poll(pf, N, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < N; i++) {
			if (rd[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(rd[i], buf[i] + len[i], sizeof(buf[i]) - len[i]);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				report(i, last[i], r == 0 ? "broken: end of stream" : "broken: read error");
				close(rd[i]);
				rd[i] = -1;
				open_ch--;
				continue;
			}
			len[i] += (size_t)r;
			char *nl;
			while ((nl = memchr(buf[i], '\n', len[i])) != NULL) {
				*nl = '\0';
				unsigned long v = strtoul(buf[i], NULL, 10);
				size_t used = (size_t)(nl - buf[i]) + 1;
				memmove(buf[i], nl + 1, len[i] - used);
				len[i] -= used;
				if (v != last[i] + 1) {
					char why[96];
					snprintf(why, sizeof(why), "broken: expected %lu, got %lu",
						 last[i] + 1, v);
					report(i, last[i], why);
					close(rd[i]);
					rd[i] = -1;
					open_ch--;
					break;
				}
				last[i] = v;
				report(i, v, "ok");
			}
		}
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 1;
}
