/*
 * igloo-helper: the OCI runtime's additions to start and exec (oci.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "oci.h"
#include "report.h"
#include "util.h"

int gate_open(const struct plan *p)
{
	if (!p->gate)
		return -1;
	/* mkfifo fails on anything already there (a planted link or file):
	 * the state directory is new and the caller's own. */
	if (mkfifo(p->gate, 0600) < 0)
		fail(p->gate_index, "gate", errno, "mkfifo %s: %s", p->gate,
		     strerror(errno));
	/* Read-write: the open does not wait for a writer, and the process
	 * that holds it keeps a reader alive, so start's non-blocking open
	 * for writing succeeds exactly while that process waits. */
	int fd = open(p->gate, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail(p->gate_index, "gate", errno, "open %s: %s", p->gate,
		     strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid())
		fail(p->gate_index, "gate", EPERM,
		     "%s is not the fifo just made (replaced?)", p->gate);
	return fd;
}

int console_socket_connect(const struct plan *p)
{
	if (!p->consolesocket)
		return -1;
	/* The path may lie in a directory someone else can write (/tmp): a
	 * link or a socket planted there would get the container's console.
	 * So the socket itself, not a link, and the caller's own: opened
	 * O_PATH|O_NOFOLLOW, checked, and connected through that descriptor. */
	int pfd = open(p->consolesocket, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		fail(p->consolesocket_index, "consolesocket", errno, "open %s: %s",
		     p->consolesocket, strerror(errno));
	struct stat st;
	if (fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		fail(p->consolesocket_index, "consolesocket", EPERM,
		     "%s is not a unix socket of uid %u (a link, or someone else's)",
		     p->consolesocket, (unsigned)geteuid());
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail(p->consolesocket_index, "consolesocket", errno, "socket: %s",
		     strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail(p->consolesocket_index, "consolesocket", errno, "connect %s: %s",
		     p->consolesocket, strerror(errno));
	close(pfd);
	return s;
}

void console_socket_send(const struct plan *p, int sock, int master)
{
	unsigned int n = 0;
	char name[64];
	if (ioctl(master, TIOCGPTN, &n) < 0)
		fail(p->consolesocket_index, "consolesocket", errno,
		     "TIOCGPTN: %s", strerror(errno));
	snprintf(name, sizeof(name), "/dev/pts/%u", n);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = {.iov_base = name, .iov_len = strlen(name)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	ssize_t r;
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		fail(p->consolesocket_index, "consolesocket", errno,
		     "send the pty master to %s: %s", p->consolesocket, strerror(errno));
	close(sock);
}

void joinns_enter(const struct plan *p)
{
	int fds[JOINNS_MAX];
	for (int i = 0; i < p->njoinns; i++) {
		const struct record *r = p->joinns[i];
		int fd = open(r->argv[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(r->index, "joinns", errno, "open %s: %s", r->argv[1],
			     strerror(errno));
		int type = ioctl(fd, NS_GET_NSTYPE);
		if (type < 0 || (unsigned long)type != ns_flag(r->argv[0]))
			fail(r->index, "joinns", EINVAL,
			     "%s is not a %s namespace", r->argv[1], r->argv[0]);
		fds[i] = fd;
	}
	/* The user namespace first: it gives the capabilities the others
	 * need (and a pid namespace joined here applies to clone()'s child). */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < p->njoinns; i++) {
			const struct record *r = p->joinns[i];
			int is_user = strcmp(r->argv[0], "user") == 0;
			if (is_user != (pass == 0))
				continue;
			if (setns(fds[i], 0) < 0)
				fail(r->index, "joinns", errno, "setns %s %s: %s",
				     r->argv[0], r->argv[1], strerror(errno));
			close(fds[i]);
		}
}

/* Whether FILE (a name without a slash: along PATH) is something execve
 * may run: a regular file with an x bit for us. */
static int runnable(const char *f)
{
	struct stat st;
	return stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0;
}

static int find_program(const char *file, const char *path)
{
	if (strchr(file, '/'))
		return runnable(file);
	char full[PATH_MAX];
	for (const char *q = path;;) {
		const char *colon = strchr(q, ':');
		size_t dl = colon ? (size_t)(colon - q) : strlen(q);
		snprintf(full, sizeof(full), "%.*s%s%s", (int)dl, q, dl ? "/" : "",
			 file);
		if (runnable(full))
			return 1;
		if (!colon)
			return 0;
		q = colon + 1;
	}
}

void gate_wait(struct child_ctx *c, const char *file, const char *path)
{
	if (!find_program(file, path))
		child_fail(c, ENOENT, "exec %s (PATH=%s): no such executable in the container",
			   file, path);
	/* From here on the helper is gone: nothing must kill us with it. */
	(void)prctl(PR_SET_PDEATHSIG, 0);
	struct step_error e;
	memset(&e, 0, sizeof(e));
	e.index = GATE_REACHED;
	snprintf(e.op, sizeof(e.op), "gate");
	if (write_all(c->errfd, &e, sizeof(e)) < 0)
		_exit(1);
	close(c->errfd);
	c->errfd = -1;
	char ch;
	ssize_t r;
	do
		r = read(c->gatefd, &ch, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(1);
	close(c->gatefd);
	c->gatefd = -1;
}
