/*
 * igloo-helper: the container's sidecar (sidecar.h; PROTOCOL.md,
 * "Sidecar"), a host process that lives exactly as long as the container's
 * init: user-mode networking (slirp4netns) is the one igloo runs.
 *
 *   helper (later the monitor)
 *     └─ supervisor   forked right after the child's maps are written,
 *        │            before the child runs a step: holds init's pidfd and
 *        │            init's net and user namespaces (fds, so a recycled
 *        │            pid can never redirect a restart)
 *        └─ sidecar   the plan's argv, with fd 3 the write end of its ready
 *                     pipe, fd 4 init's network namespace, fd 5 init's user
 *                     namespace, stdio to DIR/sidecar.log
 *
 * Start: the sidecar writes a byte on fd 3 when it is ready, then each
 * `sidecarcall` message goes on a new connection to its unix socket and
 * must be answered with a reply that has no "error". Only then does the
 * helper let the child go on (MAPPED): the container's first process never
 * runs without its network. A start that fails is reported as the
 * `sidecar` record's ERROR.
 *
 * Afterwards: a sidecar that dies is started again after a pause (0.1 s,
 * doubling up to 10 s; back to 0.1 s after 30 s of running). When init
 * exits, the supervisor sends the sidecar SIGTERM (SIGKILL after a second),
 * reaps it and exits. Nothing is left behind when the monitor dies either:
 * the supervisor dies with it (PR_SET_PDEATHSIG), and the sidecar with
 * the supervisor. DIR/sidecar.pid holds "SUPERVISOR SIDECAR" for Node
 * (detaching checks that both are gone).
 *
 * The supervisor joins the container's cgroups (the plan's `cgroup`
 * records) before it starts the sidecar: both count in the container's
 * memory and pids figures and limits, and freeze with it; `igloo ps`
 * shows them as the container's (a host child of its monitor).
 *
 * Why a process of its own rather than the monitor's poll loop: the
 * sidecar's restarts and timeouts stay out of the monitor (console.c), and
 * a supervisor of 100 kB resident costs less than the start of a sidecar.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "report.h"
#include "sidecar.h"
#include "util.h"

#define READY_FD 3
#define NETNS_FD 4
#define USERNS_FD 5
#define READY_TIMEOUT_MS 10000
#define CALL_TIMEOUT_MS 5000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_SECONDS 30

struct supervisor {
	const struct plan *p;
	const struct record *rec; /* sidecar DIR ARGC ARG... */
	int dirfd, logfd, netns, userns, initfd;
	pid_t pid;   /* the running sidecar, 0: none */
	int pidfd;   /* its pidfd, -1: none */
	time_t started;
	/* the first start's timeline (µs, monotonic), logged once ready:
	 * sidecar_launch called, namespaces open, exec'd, ready byte, calls done */
	long long t_launch, t_ns, t_spawned, t_ready, t_calls;
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll one fd for POLLIN for at most MS (-1: forever); 1 ready, 0 timeout. */
static int wait_in(int fd, int ms)
{
	long long end = now_ms() + ms;
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int left = ms < 0 ? -1 : (int)(end - now_ms());
		if (ms >= 0 && left < 0)
			left = 0;
		int r = poll(&pf, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return 1; /* let the read say what is wrong */
	}
}

static void log_line(struct supervisor *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_line(struct supervisor *s, const char *fmt, ...)
{
	char buf[MSG_MAX];
	int n = snprintf(buf, sizeof(buf), "igloo-helper: ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)write_all(s->logfd, buf, (size_t)n);
}

static void write_pidfile(struct supervisor *s)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%d %d\n", (int)getpid(), (int)s->pid);
	int fd = openat(s->dirfd, "sidecar.pid.new",
			O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int ok = write_all(fd, text, (size_t)n) == 0;
	close(fd);
	if (ok)
		(void)renameat(s->dirfd, "sidecar.pid.new", s->dirfd, "sidecar.pid");
}

/* The last lines of DIR/sidecar.log (the sidecar's own words on why it
 * failed), on one line. */
static void log_tail(struct supervisor *s, char *buf, size_t n)
{
	buf[0] = '\0';
	int fd = openat(s->dirfd, "sidecar.log", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)n - 1 ? end - (off_t)n + 1 : 0;
	ssize_t r = pread(fd, buf, n - 1, from);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = c[1] ? ' ' : '\0';
}

/* One `sidecarcall SOCKET MESSAGE`: a new connection, the message, the
 * reply until EOF. A reply with "error" (or none at all) fails. */
static int call(const struct record *r, char *err, size_t n)
{
	const char *path = r->argv[0], *msg = r->argv[1];
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, n, "socket path %s is too long", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write_all(fd, msg, strlen(msg)) < 0 || shutdown(fd, SHUT_WR) < 0) {
		snprintf(err, n, "send %s to %s: %s", msg, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char reply[1024];
	size_t len = 0;
	long long end = now_ms() + CALL_TIMEOUT_MS;
	for (;;) {
		int left = (int)(end - now_ms());
		if (left <= 0 || !wait_in(fd, left)) {
			snprintf(err, n, "no reply to %s from %s", msg, path);
			close(fd);
			return -1;
		}
		ssize_t got = read(fd, reply + len, sizeof(reply) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		if (len == sizeof(reply) - 1)
			break;
	}
	close(fd);
	reply[len] = '\0';
	while (len && (reply[len - 1] == '\n' || reply[len - 1] == '\r'))
		reply[--len] = '\0';
	if (len == 0 || strstr(reply, "\"error\"")) {
		snprintf(err, n, "%.200s answered %.300s: %.400s", path, msg, len ? reply : "nothing");
		return -1;
	}
	return 0;
}

static void stop_sidecar(struct supervisor *s)
{
	if (s->pid <= 0)
		return;
	(void)kill(s->pid, SIGTERM);
	if (s->pidfd < 0 || !wait_in(s->pidfd, 1000))
		(void)kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pid = 0;
	s->pidfd = -1;
}

/* fd as TARGET in the sidecar: moved out of the way of 3..5 first. */
static int above(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

static void exec_sidecar(struct supervisor *s, int ready_w, pid_t supervisor)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != supervisor)
		_exit(1); /* the supervisor died before PDEATHSIG was set */
	reset_signals();
	int fds[3] = {above(ready_w), above(s->netns), above(s->userns)};
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(s->logfd, 1) < 0 ||
	    dup2(s->logfd, 2) < 0)
		_exit(126);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0 && dup2(fds[i], READY_FD + i) < 0)
			_exit(126);
	(void)sys_close_range(READY_FD + 3, ~0U, 0);
	int argc = (int)(s->rec->argc - 2);
	char *argv[argc + 1];
	for (int i = 0; i < argc; i++)
		argv[i] = s->rec->argv[2 + i];
	argv[argc] = NULL;
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL};
	execve(argv[0], argv, envp);
	fprintf(stderr, "igloo-helper: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The supervisor joins the container's cgroups (the plan's `cgroup`
 * records), so that it and the sidecar it starts are counted, and limited,
 * with the container: its memory figure includes slirp4netns's. */
static int join_cgroups(const struct plan *p, char *err, size_t n)
{
	for (int i = 0; i < p->ncgroups; i++) {
		const char *path = p->cgroups[i]->argv[0];
		int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		const char *why = NULL;
		if (fd < 0 || fstat(fd, &st) < 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a cgroup file";
		else if (write(fd, "0", 1) != 1)
			why = strerror(errno);
		if (why) {
			snprintf(err, n, "join %s: %s", path, why);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* Starts the sidecar and waits until it is ready and its calls are
 * answered; on failure it is gone again and ERR says why. */
static int start_sidecar(struct supervisor *s, char *err, size_t n)
{
	for (size_t i = 1; i < s->p->first_step; i++)
		if (s->p->recs[i].code == OP_sidecarcall)
			(void)unlink(s->p->recs[i].argv[0]); /* the last run's socket */
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0) {
		snprintf(err, n, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, n, "fork: %s", strerror(errno));
		close(rp[0]);
		close(rp[1]);
		return -1;
	}
	if (pid == 0)
		exec_sidecar(s, rp[1], me);
	close(rp[1]);
	s->t_spawned = now_us();
	s->pid = pid;
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	s->started = time(NULL);
	char byte;
	int ready = wait_in(rp[0], READY_TIMEOUT_MS) && read(rp[0], &byte, 1) == 1;
	s->t_ready = now_us();
	close(rp[0]);
	if (!ready) {
		int gone = s->pidfd >= 0 && wait_in(s->pidfd, 0);
		stop_sidecar(s);
		char tail[400];
		log_tail(s, tail, sizeof(tail));
		snprintf(err, n, "%.200s %s: %s", s->rec->argv[2],
			 gone ? "exited before it was ready"
			      : "was not ready within 10 s",
			 tail[0] ? tail : "(no output)");
		return -1;
	}
	for (size_t i = 1; i < s->p->first_step; i++) {
		if (s->p->recs[i].code == OP_sidecarcall && call(&s->p->recs[i], err, n) < 0) {
			stop_sidecar(s);
			return -1;
		}
	}
	s->t_calls = now_us();
	write_pidfile(s);
	return 0;
}

/* "ready after 6.1 ms: ...": where the container's wait for its network
 * went (bench/net.ts reads this line as igloo's user-mode attach). */
static void log_timeline(struct supervisor *s)
{
	int calls = 0;
	for (size_t i = 1; i < s->p->first_step; i++)
		calls += s->p->recs[i].code == OP_sidecarcall;
	log_line(s,
		 "%s ready after %.1f ms: namespaces %.1f, fork %.1f, "
		 "until its ready byte %.1f, %d calls %.1f",
		 s->rec->argv[2], (double)(s->t_calls - s->t_launch) / 1000,
		 (double)(s->t_ns - s->t_launch) / 1000, (double)(s->t_spawned - s->t_ns) / 1000,
		 (double)(s->t_ready - s->t_spawned) / 1000, calls,
		 (double)(s->t_calls - s->t_ready) / 1000);
}

/* The supervisor's life after the first start: restarts until init exits. */
static void supervise(struct supervisor *s) __attribute__((noreturn));
static void supervise(struct supervisor *s)
{
	int backoff = BACKOFF_FIRST_MS;
	char err[MSG_MAX];
	for (;;) {
		if (s->pid > 0) {
			struct pollfd pf[2] = {{.fd = s->initfd, .events = POLLIN},
					       {.fd = s->pidfd, .events = POLLIN}};
			if (poll(pf, 2, -1) < 0 && errno != EINTR)
				break;
			if (pf[0].revents)
				break;
			if (!pf[1].revents)
				continue;
			int ws = 0;
			while (waitpid(s->pid, &ws, 0) < 0 && errno == EINTR)
				;
			close(s->pidfd);
			s->pid = 0;
			s->pidfd = -1;
			if (time(NULL) - s->started >= STABLE_SECONDS)
				backoff = BACKOFF_FIRST_MS;
			char text[64];
			status_text(ws, text, sizeof(text));
			log_line(s, "%s %s; starting it again in %d ms", s->rec->argv[2], text,
				 backoff);
		}
		if (wait_in(s->initfd, backoff))
			break; /* init is gone: nothing to restart for */
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		if (start_sidecar(s, err, sizeof(err)) < 0)
			log_line(s, "%s", err);
	}
	stop_sidecar(s);
	(void)unlinkat(s->dirfd, "sidecar.pid", 0);
	_exit(0);
}

pid_t sidecar_launch(const struct plan *p, pid_t init)
{
	const struct record *rec = p->sidecar;
	if (!rec)
		return 0;
	struct supervisor s = {
		.p = p, .rec = rec, .pidfd = -1, .netns = -1, .userns = -1, .t_launch = now_us()};
	char err[MSG_MAX] = "";
	char path[64];
	s.dirfd = open(rec->argv[0], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s.dirfd < 0) {
		snprintf(err, sizeof(err), "open %s: %s", rec->argv[0], strerror(errno));
		goto failed;
	}
	s.logfd = openat(s.dirfd, "sidecar.log",
			 O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s.logfd < 0) {
		snprintf(err, sizeof(err), "open %s/sidecar.log: %s", rec->argv[0],
			 strerror(errno));
		goto failed;
	}
	/* Init waits for MAPPED: it is still the helper's child with the
	 * caller's host ids, so its namespaces are ours to open. */
	s.initfd = (int)syscall(SYS_pidfd_open, init, 0);
	/* The child makes itself dumpable first thing (start_child), but on
	 * a busy host it may not have run yet: until then its /proc/PID/ns
	 * links are root's (EACCES). It waits for MAPPED, so it will. */
	for (int tries = 0; tries < 2000; tries++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init);
		s.netns = open(path, O_RDONLY | O_CLOEXEC);
		if (s.netns >= 0 || errno != EACCES)
			break;
		usleep(1000);
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)init);
	s.userns = s.netns < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (s.initfd < 0 || s.netns < 0 || s.userns < 0) {
		snprintf(err, sizeof(err), "open %s: %s",
			 s.initfd < 0 ? "init's pidfd" : path, strerror(errno));
		goto failed;
	}
	s.t_ns = now_us();
	int status[2];
	if (pipe2(status, O_CLOEXEC) < 0) {
		snprintf(err, sizeof(err), "pipe: %s", strerror(errno));
		goto failed;
	}
	pid_t helper = getpid();
	pid_t sup = fork();
	if (sup < 0) {
		snprintf(err, sizeof(err), "fork: %s", strerror(errno));
		goto failed;
	}
	if (sup == 0) {
		/* The supervisor: dies with the helper (the monitor), keeps
		 * nothing of it but what it needs. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != helper)
			_exit(1);
		sync_close();
		reset_signals();
		(void)prctl(PR_SET_NAME, "igloo-sidecar", 0, 0, 0);
		/* Dumpable, as the monitor is (parent.c): a process of its
		 * owner on the host, holding nothing the owner may not see,
		 * whose /proc/PID/ns links `igloo ps` reads as the owner. The
		 * helper it is forked from is not dumpable yet. */
		(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0)
			for (int i = 0; i < 3; i++)
				(void)dup2(devnull, i);
		if (chdir("/") < 0) {
			/* nothing relative is used */
		}
		close(status[0]);
		char e[MSG_MAX];
		if (join_cgroups(p, e, sizeof(e)) < 0 || start_sidecar(&s, e, sizeof(e)) < 0) {
			(void)write_all(status[1], e, strlen(e));
			_exit(1);
		}
		(void)write_all(status[1], "", 1); /* one NUL byte: ready */
		close(status[1]);
		log_timeline(&s);
		supervise(&s);
	}
	close(status[1]);
	/* The supervisor's answer: a NUL byte once ready, else the error. */
	ssize_t n = read_full(status[0], err, sizeof(err) - 1);
	close(status[0]);
	close(s.initfd);
	close(s.netns);
	close(s.userns);
	close(s.logfd);
	close(s.dirfd);
	if (n == 1 && err[0] == '\0')
		return sup;
	err[n > 0 ? n : 0] = '\0';
	if (n <= 0)
		snprintf(err, sizeof(err), "the sidecar's supervisor died");
	while (waitpid(sup, NULL, 0) < 0 && errno == EINTR)
		;
	report_error(rec->index, "sidecar", EIO, err);
	return -1;

failed:
	report_error(rec->index, "sidecar", errno ? errno : EIO, err);
	return -1;
}
