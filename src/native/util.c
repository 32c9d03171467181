/*
 * igloo-helper: small utilities (util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* A number and its name, for the errno and signal tables below. */
struct num_name {
	int num;
	const char *name;
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The name of num in table, or prefix<num> written into buf. */
static const char *lookup_name(const struct num_name *table, size_t count, int num,
			       const char *prefix, char *buf, size_t n)
{
	for (size_t i = 0; i < count; i++)
		if (table[i].num == num)
			return table[i].name;
	snprintf(buf, n, "%s%d", prefix, num);
	return buf;
}

/* errno names, so that TypeScript can match on them without knowing the
 * C library's numbering. Unknown values become E<number>. */
static const struct num_name errnames[] = {
	{EPERM, "EPERM"},         {ENOENT, "ENOENT"},
	{ESRCH, "ESRCH"},         {EINTR, "EINTR"},
	{EIO, "EIO"},             {ENXIO, "ENXIO"},
	{E2BIG, "E2BIG"},         {ENOEXEC, "ENOEXEC"},
	{EBADF, "EBADF"},         {ECHILD, "ECHILD"},
	{EAGAIN, "EAGAIN"},       {ENOMEM, "ENOMEM"},
	{EACCES, "EACCES"},       {EFAULT, "EFAULT"},
	{ENOTBLK, "ENOTBLK"},     {EBUSY, "EBUSY"},
	{EEXIST, "EEXIST"},       {EXDEV, "EXDEV"},
	{ENODEV, "ENODEV"},       {ENOTDIR, "ENOTDIR"},
	{EISDIR, "EISDIR"},       {EINVAL, "EINVAL"},
	{ENFILE, "ENFILE"},       {EMFILE, "EMFILE"},
	{ENOTTY, "ENOTTY"},       {ETXTBSY, "ETXTBSY"},
	{EFBIG, "EFBIG"},         {ENOSPC, "ENOSPC"},
	{ESPIPE, "ESPIPE"},       {EROFS, "EROFS"},
	{EMLINK, "EMLINK"},       {EPIPE, "EPIPE"},
	{ERANGE, "ERANGE"},       {ENAMETOOLONG, "ENAMETOOLONG"},
	{ENOSYS, "ENOSYS"},       {ENOTEMPTY, "ENOTEMPTY"},
	{ELOOP, "ELOOP"},         {EOVERFLOW, "EOVERFLOW"},
	{EOPNOTSUPP, "EOPNOTSUPP"}, {EUSERS, "EUSERS"},
	{ENOTSOCK, "ENOTSOCK"},   {EADDRINUSE, "EADDRINUSE"},
	{ECONNREFUSED, "ECONNREFUSED"}, {ELIBBAD, "ELIBBAD"},
	{ESTALE, "ESTALE"},       {EDQUOT, "EDQUOT"},
	{ECANCELED, "ECANCELED"}, {ENOMEDIUM, "ENOMEDIUM"},
	{EMEDIUMTYPE, "EMEDIUMTYPE"}, {ENOKEY, "ENOKEY"},
};

const char *errno_name(int err, char *buf, size_t n)
{
	return lookup_name(errnames, COUNT_OF(errnames), err, "E", buf, n);
}

/* Signal names; unknown values become SIG<number>. */
static const struct num_name signames[] = {
	{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},     {SIGQUIT, "SIGQUIT"},
	{SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"},   {SIGABRT, "SIGABRT"},
	{SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},     {SIGKILL, "SIGKILL"},
	{SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
	{SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},   {SIGTERM, "SIGTERM"},
	{SIGSTKFLT, "SIGSTKFLT"}, {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},
	{SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
	{SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"},     {SIGXCPU, "SIGXCPU"},
	{SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
	{SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},
	{SIGSYS, "SIGSYS"},
};

const char *signal_name(int sig, char *buf, size_t n)
{
	return lookup_name(signames, COUNT_OF(signames), sig, "SIG", buf, n);
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes unless EOF comes first; returns the count read or -1. */
ssize_t read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int send_fd(int sock, int fd)
{
	char data = 'F';
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		return r == 1 ? 0 : -1;
	}
}

/* Receive one fd; returns it (close-on-exec) or -1 (errno ENODATA on EOF). */
int recv_fd(int sock)
{
	char data;
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	ssize_t r;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = ENODATA;
		return -1;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
			return fd;
		}
	}
	errno = EBADMSG;
	return -1;
}

/* Strict decimal/octal parse of an unsigned number. */
int parse_ulong(const char *s, int base, unsigned long *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Messages travel as one line: no newline may sneak in from a path. */
void sanitize_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

void status_text(int status, char *buf, size_t n)
{
	char sb[16];
	if (WIFSIGNALED(status))
		snprintf(buf, n, "signaled %s",
			 signal_name(WTERMSIG(status), sb, sizeof(sb)));
	else
		snprintf(buf, n, "exited %d", WEXITSTATUS(status));
}

/* Shell convention: N, or 128+signal. */
int status_exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The start time of PID (field 22 of /proc/PID/stat), 0 if it is gone. */
unsigned long long proc_start_time(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2; /* field 3, the state */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}
