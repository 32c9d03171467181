/*
 * tiocsti: what a container's process would do to type into the shell of
 * whoever ran `igloo exec` or `igloo run` (TIOCSTI pushes bytes into a
 * terminal's input queue, as if typed). For each of fds 0, 1, 2 and
 * /dev/tty it pushes TEXT (argv[1]) followed by a newline, one byte at a
 * time, and prints one line per target:
 *
 *   TIOCSTI <target> <ok|ERRNO> tty=<ttyname or -> ctty=<yes|no>
 *
 * then `TIOCSTI-DONE sid=<session> pid=<pid>`. Always exits 0: whether the
 * bytes reached the caller's shell is for the caller to see.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const char *try(int fd, const char *text)
{
	static char buf[64];
	for (const char *p = text;; p++) {
		char c = *p ? *p : '\n';
		if (ioctl(fd, TIOCSTI, &c) < 0) {
			snprintf(buf, sizeof(buf), "%s", strerrorname_np(errno));
			return buf;
		}
		if (!*p)
			break;
	}
	return "ok";
}

static void report(const char *name, int fd, const char *text)
{
	const char *res = fd < 0 ? strerrorname_np(errno) : try(fd, text);
	const char *tty = fd < 0 ? NULL : ttyname(fd);
	/* tcgetsid answers only for our controlling terminal */
	int ctty = fd >= 0 && tcgetsid(fd) != -1;
	printf("TIOCSTI %s %s tty=%s ctty=%s\n", name, res, tty ? tty : "-", ctty ? "yes" : "no");
}

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	report("fd0", 0, text);
	report("fd1", 1, text);
	report("fd2", 2, text);
	int t = open("/dev/tty", O_RDWR | O_CLOEXEC);
	report("/dev/tty", t, text);
	printf("TIOCSTI-DONE sid=%d pid=%d\n", (int)getsid(0), (int)getpid());
	return 0;
}
