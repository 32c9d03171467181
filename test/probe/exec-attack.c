/*
 * exec-attack: what container root would do to hijack `igloo exec` (runc
 * CVE-2016-9962 and CVE-2019-5736 classes). Runs inside a container as its
 * root, waits for the next pid of its pid namespace (spinning PTRACE_SEIZE on
 * it, as the attack on the old helper did) and, for each new process, tries
 * while it may still be igloo's helper (before its execve):
 *
 *   PTRACE_SEIZE / PTRACE_ATTACH, open /proc/PID/exe, /proc/PID/mem,
 *   /proc/PID/environ, and every /proc/PID/fd/N.
 *
 * A success counts only when the process was still igloo's (its comm is
 * `igloo` or `igloo-helper`, read AFTER the success: comm changes at execve,
 * so the access was granted before it): after its execve the process is the
 * container's own and root may trace it. A seized process is stopped
 * (PTRACE_INTERRUPT) and read while stopped, then let go.
 *
 *   exec-attack COUNT [SECONDS]
 *
 * Prints `READY <next pid>` when it spins, one line per pid it handled:
 *   PID <pid> comm=<comm> pre=<0|1> seize=<ok|ERRNO> attach=... exe=... mem=...
 *     environ=... fd=...
 * (pre=1: the process was seen as igloo's before its execve), a line
 *   HIJACK <pid> <what> <detail>   for every success against igloo's process,
 * and at the end `DONE handled=N pre=N hijacks=N missed=N`. Exits 0 after
 * COUNT new pids (or SECONDS, default 120, whichever first).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int hijacks;

static long last_pid(void)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static void comm_of(long pid, char *out, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	out[0] = 0;
	if (fd < 0) {
		snprintf(out, n, "?");
		return;
	}
	ssize_t r = read(fd, out, n - 1);
	close(fd);
	if (r < 0)
		r = 0;
	out[r] = 0;
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
}

static int is_igloo(const char *comm)
{
	return strcmp(comm, "igloo") == 0 || strcmp(comm, "igloo-helper") == 0;
}

static const char *err_name(int e)
{
	switch (e) {
	case 0:
		return "ok";
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	case ESRCH:
		return "ESRCH";
	case ENOENT:
		return "ENOENT";
	default:
		return strerrorname_np(e) ? strerrorname_np(e) : "E?";
	}
}

/* A success: still igloo's process? Then it is a hijack. */
static void judge(long pid, const char *what, const char *detail)
{
	char comm[64];
	comm_of(pid, comm, sizeof(comm));
	if (is_igloo(comm)) {
		hijacks++;
		printf("HIJACK %ld %s %s (comm %s)\n", pid, what, detail, comm);
	}
}

/* Stops a traced process, reads who it is while it is stopped, lets it go. */
static void hold(long pid, const char *how)
{
	char comm[64], detail[256] = "";
	int st;
	/* seized: interrupt it; attached: it stops by itself (SIGSTOP) */
	int seized = strcmp(how, "PTRACE_SEIZE") == 0;
	if ((!seized || ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0) &&
	    waitpid((pid_t)pid, &st, __WALL) == (pid_t)pid && WIFSTOPPED(st)) {
		comm_of(pid, comm, sizeof(comm));
		char path[64], buf[4096];
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			char *u = strstr(buf, "Uid:");
			if (u) {
				char *e = strchr(u, '\n');
				if (e)
					*e = 0;
				snprintf(detail, sizeof(detail), "stopped, %s", u);
			}
		}
		if (is_igloo(comm)) {
			hijacks++;
			printf("HIJACK %ld %s %s (comm %s)\n", pid, how, detail, comm);
		}
		(void)ptrace(PTRACE_DETACH, pid, 0, 0);
	} else {
		judge(pid, how, "seized");
		(void)ptrace(PTRACE_DETACH, pid, 0, 0);
	}
	/* PTRACE_ATTACH's SIGSTOP may still be pending (the stop we waited
	 * for was another one): without a tracer it would stop the process
	 * for good and hang the exec. SIGCONT discards a pending stop. */
	(void)kill((pid_t)pid, SIGCONT);
}

static int try_open(long pid, const char *what)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/%s", pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	judge(pid, what, "opened");
	close(fd);
	return 0;
}

static int try_fds(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return errno;
	int err = 0, any = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char fp[320];
		snprintf(fp, sizeof(fp), "/proc/%ld/fd/%s", pid, e->d_name);
		int fd = open(fp, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			err = errno;
			continue;
		}
		any = 1;
		judge(pid, "fd", fp);
		close(fd);
	}
	closedir(d);
	judge(pid, "fd-dir", path);
	return any ? 0 : err ? err : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long want = strtol(argv[1], NULL, 10);
	long secs = argc > 2 ? strtol(argv[2], NULL, 10) : 120;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGCHLD, SIG_DFL);
	time_t deadline = time(NULL) + secs;
	long next = last_pid() + 1;
	long handled = 0, pre = 0, missed = 0;
	printf("READY %ld\n", next);
	unsigned spins = 0;
	while (handled + missed < want && time(NULL) < deadline) {
		errno = 0;
		long r = ptrace(PTRACE_SEIZE, next, 0, 0);
		int seize = r == 0 ? 0 : errno;
		if (seize == ESRCH) {
			/* not there yet, or already gone (missed) */
			if ((++spins & 63) == 0 && last_pid() >= next) {
				errno = 0;
				if (ptrace(PTRACE_SEIZE, next, 0, 0) < 0 && errno == ESRCH) {
					printf("PID %ld missed\n", next);
					missed++;
					next++;
				} else if (errno == 0) {
					hold(next, "PTRACE_SEIZE");
				}
			}
			continue;
		}
		long pid = next++;
		char comm[64];
		comm_of(pid, comm, sizeof(comm));
		int was_igloo = is_igloo(comm);
		if (seize == 0)
			hold(pid, "PTRACE_SEIZE");
		int attach = 0;
		if (ptrace(PTRACE_ATTACH, pid, 0, 0) == 0) {
			hold(pid, "PTRACE_ATTACH");
		} else {
			attach = errno;
		}
		int exe = try_open(pid, "exe");
		int mem = try_open(pid, "mem");
		int env = try_open(pid, "environ");
		int fds = try_fds(pid);
		if (was_igloo)
			pre++;
		handled++;
		printf("PID %ld comm=%s pre=%d seize=%s attach=%s exe=%s mem=%s environ=%s fd=%s\n",
		       pid, comm, was_igloo, err_name(seize), err_name(attach), err_name(exe),
		       err_name(mem), err_name(env), err_name(fds));
		/* reap anything we traced that ended */
		while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
			;
	}
	printf("DONE handled=%ld pre=%ld hijacks=%d missed=%ld\n", handled, pre, hijacks, missed);
	return 0;
}
