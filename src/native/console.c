/*
 * igloo-helper: waiting for the container's process.
 *
 * run_foreground(): the helper of a foreground start, or the host-side
 *   parent of an exec. Forwards signals, reaps, and with `console pty`
 *   relays between its own stdin/stdout and the pty master (raw mode on the
 *   caller's terminal, window size on SIGWINCH).
 * run_monitor(): the detached monitor. Reaps everything, serves the pty on
 *   RUNDIR/console.sock (one client at a time, 64 KiB of output replayed to
 *   a new client), keeps the output in DIR/console.log when the plan has a
 *   `consolelog` record (console_log_open(); bounded, see below), writes
 *   RUNDIR/exit when init exits.
 *
 * One poll() loop each; signals arrive on a signalfd (they are blocked from
 * the start so none is lost between clone and the loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "util.h"
#include "failpoint.h"

#define RING_SIZE (64 * 1024)

static int is_forwarded(int sig)
{
	return sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
	       sig == SIGQUIT || sig == SIGUSR1 || sig == SIGUSR2;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reap every child that has exited; returns 1 and sets *status when
 * `target` was among them. */
static int reap(pid_t target, int *status)
{
	int found = 0;
	for (;;) {
		int ws;
		pid_t p = waitpid(-1, &ws, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			break;
		if (p == target) {
			*status = ws;
			found = 1;
		}
	}
	return found;
}

static void copy_winsize(int master)
{
	struct winsize ws;
	if (master >= 0 && isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(master, TIOCSWINSZ, &ws);
}

/* Read every signal waiting on the signalfd: SIGCHLD reaps, a forwarded
 * signal goes on to target, SIGWINCH copies the window size onto
 * winsize_master (-1: nothing to copy onto). Returns 1 when target was
 * reaped, its wait status in *status. */
static int drain_signals(int sigfd, pid_t target, int winsize_master, int *status)
{
	struct signalfd_siginfo si;
	int exited = 0;
	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD)
			exited |= reap(target, status);
		else if (sig == SIGWINCH)
			copy_winsize(winsize_master);
		else if (is_forwarded(sig))
			(void)kill(target, sig);
	}
	return exited;
}

/* Write what is left of the pending input in[*off..*len) to the pty master;
 * the buffer empties (*len = *off = 0) when all of it is written or the
 * write fails for good. */
static void write_pending(int master, const char *in, size_t *len, size_t *off)
{
	ssize_t w = write(master, in + *off, *len - *off);
	if (w > 0) {
		*off += (size_t)w;
		if (*off == *len)
			*len = *off = 0;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		*len = *off = 0;
	}
}

/* IGLOO_WINSIZE_FD=N (N > 2): the caller has no terminal to copy a size
 * from (igloo serve's web terminal) and sends "ROWS COLS\n" lines on fd N
 * instead; each sets the pty's window size (the kernel then signals the
 * process inside: SIGWINCH). -1 when there is no such fd. */
#define WINSIZE_LINE 64
static int winsize_fd(void)
{
	const char *v = getenv("IGLOO_WINSIZE_FD");
	char *end;
	if (!v || !*v)
		return -1;
	long fd = strtol(v, &end, 10);
	if (*end || fd < 3 || fd > 1023 || fcntl((int)fd, F_GETFD) < 0)
		return -1;
	set_nonblock((int)fd);
	return (int)fd;
}

/* Reads what fd has, applies each complete line to master; 0, or -1 at
 * its end (or a failure: the size stays as it is). */
static int read_winsize(int fd, int master, char *buf, size_t *len)
{
	ssize_t r = read(fd, buf + *len, WINSIZE_LINE - 1 - *len);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	*len += (size_t)r;
	buf[*len] = 0;
	char *line = buf, *nl;
	while ((nl = strchr(line, '\n')) != NULL) {
		unsigned rows, cols;
		char extra;
		*nl = 0;
		if (sscanf(line, "%u %u%c", &rows, &cols, &extra) == 2 && rows > 0 &&
		    rows < 10000 && cols > 0 && cols < 10000 && master >= 0) {
			struct winsize ws = {.ws_row = (unsigned short)rows,
					     .ws_col = (unsigned short)cols};
			(void)ioctl(master, TIOCSWINSZ, &ws);
		}
		line = nl + 1;
	}
	*len = (size_t)(buf + *len - line);
	memmove(buf, line, *len);
	if (*len == WINSIZE_LINE - 1)
		*len = 0; /* no line is that long: dropped */
	return 0;
}

/* Read whatever the pty still holds (after the process exited). */
static void drain_master(int master, int out)
{
	char buf[8192];
	for (;;) {
		ssize_t r = read(master, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		if (out >= 0 && write_all(out, buf, (size_t)r) < 0)
			return;
	}
}

int run_foreground(struct fg_state *st)
{
	struct termios saved;
	int raw = 0;
	char in[4096];
	size_t inlen = 0, inoff = 0;
	int stdin_open = st->master >= 0;
	int status = 0, done = 0;
	int wsfd = st->master >= 0 ? winsize_fd() : -1;
	char wsbuf[WINSIZE_LINE];
	size_t wslen = 0;

	if (st->master >= 0) {
		set_nonblock(st->master);
		if (isatty(0) && tcgetattr(0, &saved) == 0) {
			struct termios t = saved;
			cfmakeraw(&t);
			if (tcsetattr(0, TCSANOW, &t) == 0)
				raw = 1;
		}
		copy_winsize(st->master);
	}

	while (!done) {
		struct pollfd pf[4];
		int n = 0, im = -1, ii = -1, iw = -1;
		pf[n++] = (struct pollfd){.fd = st->sigfd, .events = POLLIN};
		if (st->master >= 0) {
			im = n;
			pf[n++] = (struct pollfd){
				.fd = st->master,
				.events = (short)(POLLIN | (inlen ? POLLOUT : 0))};
		}
		if (stdin_open && inlen == 0) {
			ii = n;
			pf[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
		}
		if (wsfd >= 0) {
			iw = n;
			pf[n++] = (struct pollfd){.fd = wsfd, .events = POLLIN};
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((pf[0].revents & POLLIN) &&
		    drain_signals(st->sigfd, st->child, st->master, &status))
			done = 1;
		if (im >= 0 && (pf[im].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[8192];
			ssize_t r = read(st->master, buf, sizeof(buf));
			if (r > 0) {
				(void)write_all(1, buf, (size_t)r);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* EIO: every slave fd is closed */
				close(st->master);
				st->master = -1;
				stdin_open = 0;
			}
		}
		if (im >= 0 && st->master >= 0 && (pf[im].revents & POLLOUT) && inlen)
			write_pending(st->master, in, &inlen, &inoff);
		if (iw >= 0 && (pf[iw].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    read_winsize(wsfd, st->master, wsbuf, &wslen) < 0)
			wsfd = -1; /* its end: the size stays */
		if (ii >= 0 && (pf[ii].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(0, in, sizeof(in));
			if (r > 0) {
				inlen = (size_t)r;
				inoff = 0;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* End of input: pass an end-of-file character on. */
				struct termios t;
				stdin_open = 0;
				if (st->master >= 0 && tcgetattr(st->master, &t) == 0) {
					in[0] = (char)t.c_cc[VEOF];
					inlen = 1;
					inoff = 0;
				}
			}
		}
	}
	if (st->master >= 0) {
		drain_master(st->master, 1);
		close(st->master);
		st->master = -1;
	}
	if (raw)
		(void)tcsetattr(0, TCSANOW, &saved);
	return status;
}

/* ---- detached monitor ------------------------------------------------ */

/* Create RUNDIR/console.sock (mode 0600) and listen on it. Done before
 * READY so that Node can connect as soon as it sees READY. */
int console_listen(int rundirfd)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, "console.sock");
	/* bind() takes a path: do it relative to the rundir fd. */
	if (fchdir(rundirfd) < 0)
		goto fail;
	if (unlinkat(rundirfd, "console.sock", 0) < 0 && errno != ENOENT)
		goto fail;
	mode_t old = umask(0177);
	int r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		goto fail;
	if (fchmodat(rundirfd, "console.sock", 0600, 0) < 0)
		goto fail;
	if (listen(s, 4) < 0)
		goto fail;
	if (chdir("/") < 0)
		goto fail;
	return s;
fail:;
	int e = errno;
	close(s);
	(void)!chdir("/");
	errno = e;
	return -1;
}

/* Writes LINE to RUNDIR/NAME through NAME.tmp and a rename (fsync'd first
 * when SYNC), so a reader sees the whole line or no file. */
static void write_rundir_file(int rundirfd, const char *name, const char *line,
			      int n, int sync)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int fd = openat(rundirfd, tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	int ok = write_all(fd, line, (size_t)n) == 0 && (!sync || fsync(fd) == 0);
	if (close(fd) < 0)
		ok = 0;
	if (ok)
		(void)renameat(rundirfd, tmp, rundirfd, name);
	else
		(void)unlinkat(rundirfd, tmp, 0);
}

void write_init_file(int rundirfd, pid_t init)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%d %d\n", (int)init, (int)getpid());
	write_rundir_file(rundirfd, "init", line, n, 0);
}

static void write_exit_file(int rundirfd, int status)
{
	char text[64], line[128];
	status_text(status, text, sizeof(text));
	int n = snprintf(line, sizeof(line), "%s\n%lld\n", text,
			 (long long)time(NULL));
	write_rundir_file(rundirfd, "exit", line, n, 1);
}

struct ring {
	char buf[RING_SIZE];
	unsigned long long total; /* bytes ever written */
};

static void ring_put(struct ring *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r->buf[(r->total + i) % RING_SIZE] = p[i];
	r->total += n;
}

/* Send the client what it has not seen yet (as far as the ring still holds
 * it). Returns -1 when the client is gone. */
static int ring_flush(struct ring *r, int client, unsigned long long *pos)
{
	if (r->total - *pos > RING_SIZE)
		*pos = r->total - RING_SIZE;
	while (*pos < r->total) {
		size_t off = (size_t)(*pos % RING_SIZE);
		size_t chunk = (size_t)(r->total - *pos);
		if (chunk > RING_SIZE - off)
			chunk = RING_SIZE - off;
		ssize_t w = send(client, r->buf + off, chunk, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		*pos += (unsigned long long)w;
	}
	return 0;
}

/* ---- console log (igloo logs) ----------------------------------------
 *
 * DIR/console.log, opened before clone() by the helper (the container's
 * owner) in DIR, the container's directory: a real directory of the
 * owner's that nobody else may write (checked on the descriptor), so no
 * container id can put a link or a FIFO in the log's place, and the file
 * itself is opened O_NOFOLLOW|O_NONBLOCK and must be a regular file of the
 * owner's. It is kept across starts; when a write would take it past MAX
 * bytes it becomes console.log.1 (replacing the older one) and a new
 * console.log begins: at most 2 x MAX bytes on disk. A failed write
 * (disk full) is dropped: the console itself goes on. */
static struct {
	int dirfd;
	int fd;
	unsigned long long size, max;
} clog = {-1, -1, 0, 0};

static int console_log_file(void)
{
	int fd = openat(clog.dirfd, "console.log",
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			0600);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	clog.fd = fd;
	clog.size = (unsigned long long)st.st_size;
	return 0;
}

int console_log_open(const char *dir, unsigned long long max)
{
	int d = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return -1;
	struct stat st;
	if (fstat(d, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(d);
		errno = EPERM;
		return -1;
	}
	clog.dirfd = d;
	clog.max = max;
	if (console_log_file() < 0) {
		int e = errno;
		close(d);
		clog.dirfd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

static void console_log_put(const char *p, size_t n)
{
	if (clog.fd < 0)
		return;
	if (clog.size > 0 && clog.size + n > clog.max) {
		close(clog.fd);
		clog.fd = -1;
		if (renameat(clog.dirfd, "console.log", clog.dirfd, "console.log.1") < 0 ||
		    console_log_file() < 0)
			return; /* no log from here on rather than an unbounded one */
	}
	if (write_all(clog.fd, p, n) == 0)
		clog.size += n;
}

void run_monitor(pid_t init, int master, int sigfd, int rundirfd, int listenfd)
{
	static struct ring ring;
	int client = -1;
	unsigned long long cpos = 0;
	char in[4096];
	size_t inlen = 0, inoff = 0;
	int status = 0;

	if (master >= 0)
		set_nonblock(master);
	/* Hold a slave fd of our own, so the master never sees a hangup when
	 * the container closes every slave fd for a moment (sysvinit closes
	 * its stdio and reopens /dev/console; getty respawns): a hangup would
	 * make reads fail with EIO and the pty would be lost. */
	failpoint("monitor-started");
	int peer = master >= 0 ? ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	(void)peer; /* held until the monitor exits */
	for (;;) {
		struct pollfd pf[4];
		int n = 0, im = -1, il = -1, ic = -1;
		pf[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		if (master >= 0) {
			im = n;
			pf[n++] = (struct pollfd){
				.fd = master,
				.events = (short)(POLLIN | (inlen ? POLLOUT : 0))};
		}
		if (listenfd >= 0) {
			il = n;
			pf[n++] = (struct pollfd){.fd = listenfd, .events = POLLIN};
		}
		if (client >= 0) {
			ic = n;
			pf[n++] = (struct pollfd){
				.fd = client,
				.events = (short)((inlen == 0 ? POLLIN : 0) |
						  (cpos < ring.total ? POLLOUT : 0))};
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* The monitor's pty has no window of its own: no SIGWINCH copy. */
		if ((pf[0].revents & POLLIN) && drain_signals(sigfd, init, -1, &status))
			break;
		if (im >= 0 && (pf[im].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[8192];
			ssize_t r = read(master, buf, sizeof(buf));
			if (r > 0) {
				ring_put(&ring, buf, (size_t)r);
				console_log_put(buf, (size_t)r);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(master);
				master = -1;
			}
		}
		if (im >= 0 && master >= 0 && (pf[im].revents & POLLOUT) && inlen)
			write_pending(master, in, &inlen, &inoff);
		if (il >= 0 && (pf[il].revents & POLLIN)) {
			int s = accept4(listenfd, NULL, NULL,
					SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (s >= 0) {
				if (client >= 0) {
					/* one client at a time: refuse */
					static const char busy[] =
						"igloo: the console is in use\r\n";
					(void)!send(s, busy, sizeof(busy) - 1,
						    MSG_NOSIGNAL);
					close(s);
				} else {
					client = s;
					cpos = ring.total > RING_SIZE
						       ? ring.total - RING_SIZE
						       : 0;
				}
			}
		}
		if (ic >= 0 && client >= 0 && (pf[ic].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(client, in, sizeof(in));
			if (r > 0) {
				if (master >= 0) {
					inlen = (size_t)r;
					inoff = 0;
				}
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(client);
				client = -1;
				inlen = inoff = 0;
			}
		}
		if (client >= 0 && cpos < ring.total &&
		    ring_flush(&ring, client, &cpos) < 0) {
			close(client);
			client = -1;
			inlen = inoff = 0;
		}
	}

	/* init exited: last output to the client, then the exit file. */
	if (master >= 0) {
		char buf[8192];
		ssize_t r;
		while ((r = read(master, buf, sizeof(buf))) > 0) {
			ring_put(&ring, buf, (size_t)r);
			console_log_put(buf, (size_t)r);
		}
		close(master);
	}
	if (client >= 0) {
		/* blocking, but at most a second per send */
		struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
		int fl = fcntl(client, F_GETFL);
		if (fl >= 0)
			(void)fcntl(client, F_SETFL, fl & ~O_NONBLOCK);
		(void)setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)ring_flush(&ring, client, &cpos);
		close(client);
	}
	write_exit_file(rundirfd, status);
	if (listenfd >= 0) {
		(void)unlinkat(rundirfd, "console.sock", 0);
		close(listenfd);
	}
	/* Reap whatever else has exited already; the rest, if any (no pid
	 * namespace), goes to our own reaper. */
	(void)reap(-1, &status);
	exit(0);
}
