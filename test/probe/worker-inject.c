/*
 * worker-inject: what a local user does to the process root's `igloo serve
 * --users-socket` starts for them (a worker running as the user: the user
 * may ptrace it like any process of theirs). x86-64 only.
 *
 *   worker-inject tty SOCKET TEXT
 *   worker-inject ipc SOCKET
 *
 * connects to SOCKET (root hands the connection to the user's worker, made
 * on first use) and asks for /containers, finds the worker (a process of the
 * caller's uid whose parent is root's and whose command line says `serve`)
 * and prints
 *
 *   WORKER <pid> ppid=<ppid> tty_nr=<n> sid=<sid>
 *
 * tty: attaches to it with ptrace and makes it run, from its own context,
 * open("/dev/tty") and TIOCSTI of TEXT and a newline, byte by byte, on that
 * descriptor and on its fds 0, 1 and 2: `INJECT attach ERRNO` when the
 * attach is refused, else `INJECT <target> <ok|ERRNO>` each.
 * ipc: takes the worker's fd 3 (its IPC channel with root's server) with
 * pidfd_getfd and writes a line that is not JSON on it: `IPC <ok|ERRNO>`.
 *
 * Then `INJECT-DONE`, exit 0. Only what stops the attack before it starts
 * (no answer, no worker) prints FAIL <why> and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static pid_t tid;
static struct user_regs_struct saved;

static void fail(const char *why)
{
	printf("FAIL %s: %s\n", why, strerror(errno));
	exit(1);
}

static int status_field(pid_t pid, const char *key, long *out)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int found = -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key))) {
			*out = strtol(line + strlen(key), NULL, 10);
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

/* /proc/PID/NAME into BUF (NUL-terminated), its length; -1 if unreadable. */
static ssize_t proc_text(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	return f && n ? (ssize_t)n : -1;
}

static int says_serve(pid_t pid)
{
	char buf[4096];
	ssize_t n = proc_text(pid, "cmdline", buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	return n > 0 && strstr(buf, " serve") != NULL;
}

static pid_t find_worker(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while ((e = readdir(d))) {
		pid_t pid = atoi(e->d_name);
		long uid, ppid, puid;
		if (pid <= 0 || pid == getpid())
			continue;
		if (status_field(pid, "Uid:", &uid) || uid != (long)getuid())
			continue;
		if (status_field(pid, "PPid:", &ppid) || status_field(ppid, "Uid:", &puid) ||
		    puid != 0)
			continue;
		if (says_serve(pid))
			found = pid;
	}
	closedir(d);
	return found;
}

static void poke(unsigned long addr, const void *buf, size_t n)
{
	for (size_t i = 0; i < n; i += sizeof(long)) {
		long word = ptrace(PTRACE_PEEKDATA, tid, addr + i, 0);
		size_t k = n - i < sizeof(long) ? n - i : sizeof(long);
		memcpy(&word, (const char *)buf + i, k);
		if (ptrace(PTRACE_POKEDATA, tid, addr + i, word) < 0)
			fail("POKEDATA");
	}
}

/* Runs one system call in the tracee, at the `syscall` instruction it stopped after. */
static long remote(long nr, long a, long b, long c)
{
	struct user_regs_struct r = saved;
	r.rax = nr;
	r.orig_rax = -1;
	r.rdi = a;
	r.rsi = b;
	r.rdx = c;
	r.rip = saved.rip - 2;
	for (int tries = 0; tries < 10; tries++) {
		if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
			fail("SETREGS");
		if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) < 0)
			fail("SINGLESTEP");
		int st;
		if (waitpid(tid, &st, __WALL) < 0 || !WIFSTOPPED(st))
			fail("waitpid");
		struct user_regs_struct now;
		if (ptrace(PTRACE_GETREGS, tid, 0, &now) < 0)
			fail("GETREGS");
		if (now.rip == saved.rip)
			return (long)now.rax;
		/* another signal stopped it before the step: try again (the signal is dropped) */
	}
	errno = EAGAIN;
	fail("the step never ran");
	return 0;
}

static void ipc(void)
{
	int pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
	int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, 3, 0);
	const char *junk = "{not json\n";
	if (fd < 0 || write(fd, junk, strlen(junk)) < 0)
		printf("IPC %s\n", strerrorname_np(errno));
	else
		printf("IPC ok\n");
	printf("INJECT-DONE\n");
}

int main(int argc, char **argv)
{
	int tty_mode = argc == 4 && !strcmp(argv[1], "tty");
	if (!tty_mode && !(argc == 3 && !strcmp(argv[1], "ipc"))) {
		fprintf(stderr, "usage: worker-inject tty SOCKET TEXT | ipc SOCKET\n");
		return 2;
	}
	argv++;
	setvbuf(stdout, NULL, _IONBF, 0);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect");
	const char *req = "GET /containers HTTP/1.1\r\nHost: localhost\r\n\r\n";
	if (write(s, req, strlen(req)) < 0)
		fail("write");
	char answer[512];
	if (read(s, answer, sizeof(answer)) <= 0)
		fail("no answer from the worker");

	tid = find_worker();
	if (!tid) {
		errno = ESRCH;
		fail("no worker of mine");
	}
	char stat[1024];
	if (proc_text(tid, "stat", stat, sizeof(stat)) < 0)
		fail("stat");
	int ppid, pgrp, sid, tty_nr;
	sscanf(strrchr(stat, ')') + 2, "%*c %d %d %d %d", &ppid, &pgrp, &sid, &tty_nr);
	printf("WORKER %d ppid=%d tty_nr=%d sid=%d\n", tid, ppid, tty_nr, sid);

	if (!tty_mode) {
		ipc();
		return 0;
	}
	if (ptrace(PTRACE_ATTACH, tid, 0, 0) < 0) {
		printf("INJECT attach %s\nINJECT-DONE\n", strerrorname_np(errno));
		return 0;
	}
	int st;
	if (waitpid(tid, &st, __WALL) < 0)
		fail("waitpid");
	if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0)
		fail("GETREGS");
	long insn = ptrace(PTRACE_PEEKTEXT, tid, saved.rip - 2, 0);
	if ((insn & 0xffff) != 0x050f) {
		errno = EINVAL;
		fail("the worker did not stop in a system call");
	}
	/* scratch memory below the stack pointer (the red zone is 128 bytes) */
	unsigned long scratch = (saved.rsp - 1024) & ~15UL;
	char keep[512];
	size_t len = strlen(argv[2]);
	if (len > 200) {
		errno = E2BIG;
		fail("TEXT");
	}
	for (size_t i = 0; i < sizeof(keep); i += sizeof(long)) {
		long w = ptrace(PTRACE_PEEKDATA, tid, scratch + i, 0);
		memcpy(keep + i, &w, sizeof(long));
	}
	char data[512] = "/dev/tty";
	memcpy(data + 16, argv[2], len);
	data[16 + len] = '\n';
	poke(scratch, data, 16 + len + 1);

	long tty = remote(SYS_open, scratch, O_RDWR | O_NOCTTY, 0);
	printf("INJECT /dev/tty-open %s\n", tty < 0 ? strerrorname_np(-tty) : "ok");
	long targets[4] = { tty, 0, 1, 2 };
	const char *names[4] = { "/dev/tty", "fd0", "fd1", "fd2" };
	for (int t = 0; t < 4; t++) {
		if (targets[t] < 0)
			continue;
		long r = 0;
		for (size_t i = 0; i <= len && r >= 0; i++)
			r = remote(SYS_ioctl, targets[t], TIOCSTI, scratch + 16 + i);
		printf("INJECT %s %s\n", names[t], r < 0 ? strerrorname_np(-r) : "ok");
	}
	if (tty >= 0)
		remote(SYS_close, tty, 0, 0);

	poke(scratch, keep, sizeof(keep));
	if (ptrace(PTRACE_SETREGS, tid, 0, &saved) < 0)
		fail("SETREGS");
	if (ptrace(PTRACE_DETACH, tid, 0, 0) < 0)
		fail("DETACH");
	printf("INJECT-DONE\n");
	close(s);
	return 0;
}
