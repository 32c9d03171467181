/*
 * igloo-helper: installing the new user namespace's uid and gid maps.
 *
 * The plan carries the maps (`idmap uid|gid N INSIDE OUTSIDE COUNT ...`);
 * the helper writes them itself right after clone(), with no round trip
 * through Node. Root writes /proc/PID/{uid,gid}_map; anyone else goes
 * through the host's setuid newuidmap and newgidmap (which check the maps
 * against /etc/subuid and /etc/subgid), both started at once. A small
 * static helper forks these tools far more cheaply than Node can.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "maps.h"
#include "parent.h"
#include "report.h"

/* "I O C\n" per entry, as the kernel wants it in one write. */
static int format_map(const struct record *r, char *buf, size_t n)
{
	size_t len = 0;
	for (int i = 2; i + 2 < r->argc; i += 3) {
		int w = snprintf(buf + len, n - len, "%s %s %s\n", r->argv[i],
				 r->argv[i + 1], r->argv[i + 2]);
		if (w < 0 || (size_t)w >= n - len)
			return -1;
		len += (size_t)w;
	}
	return (int)len;
}

static void write_proc_map(pid_t pid, const struct record *r)
{
	char path[64], text[4096];
	int len = format_map(r, text, sizeof(text));
	snprintf(path, sizeof(path), "/proc/%d/%s_map", (int)pid, r->argv[0]);
	if (len < 0) {
		killwait(pid);
		fail(r->index, r->op, E2BIG, "the %s map is too long", r->argv[0]);
	}
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, (size_t)len) != len) {
		int e = errno;
		killwait(pid);
		fail(r->index, r->op, e, "write %s: %s", path, strerror(e));
	}
	close(fd);
}

struct tool_run {
	const struct record *rec;
	const char *tool;
	pid_t pid;
	int err_r; /* the tool's stderr */
};

static void start_tool(struct tool_run *t, pid_t target)
{
	char pidbuf[16];
	char *argv[2 + IDMAP_MAX_ENTRIES * 3 + 1];
	int argc = 0, err[2];
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)target);
	argv[argc++] = (char *)t->tool;
	argv[argc++] = pidbuf;
	for (int i = 2; i < t->rec->argc; i++) /* the plan checked the count */
		argv[argc++] = t->rec->argv[i];
	argv[argc] = NULL;
	if (pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;
		killwait(target);
		fail(t->rec->index, t->rec->op, e, "pipe: %s", strerror(e));
	}
	t->pid = fork();
	if (t->pid < 0) {
		int e = errno;
		killwait(target);
		fail(t->rec->index, t->rec->op, e, "fork %s: %s", t->tool, strerror(e));
	}
	if (t->pid == 0) {
		reset_signals();
		if (dup2(err[1], 2) < 0)
			_exit(126);
		execvp(t->tool, argv);
		dprintf(2, "cannot run %s: %s", t->tool, strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(err[1]);
	t->err_r = err[0];
}

/* Wait for one tool; on failure describe it in msg and return the errno to
 * report (ENOENT: the tool is missing; EPERM: it refused the map). */
static int finish_tool(struct tool_run *t, pid_t target, char *msg, size_t n)
{
	char out[512];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(t->err_r, out + len, sizeof(out) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	close(t->err_r);
	int status;
	while (waitpid(t->pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char args[256] = "";
	for (int i = 2; i < t->rec->argc; i++) {
		size_t used = strlen(args);
		snprintf(args + used, sizeof(args) - used, " %s", t->rec->argv[i]);
	}
	snprintf(msg, n, "%s %d%s: %s", t->tool, (int)target, args,
		 len ? out : "failed with no message");
	return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ENOENT : EPERM;
}

/* Writes both maps of the plan for the namespace of `pid`, or reports
 * ERROR against the failing `idmap` record, kills `pid` and exits 1. */
void install_idmaps(pid_t pid, const struct plan *p)
{
	if (!p->uidmap && !p->gidmap)
		return;
	if (geteuid() == 0) {
		if (p->uidmap)
			write_proc_map(pid, p->uidmap);
		if (p->gidmap)
			write_proc_map(pid, p->gidmap);
		return;
	}
	struct tool_run runs[2];
	int n = 0;
	if (p->uidmap)
		runs[n++] = (struct tool_run){.rec = p->uidmap, .tool = "newuidmap"};
	if (p->gidmap)
		runs[n++] = (struct tool_run){.rec = p->gidmap, .tool = "newgidmap"};
	for (int i = 0; i < n; i++)
		start_tool(&runs[i], pid);
	int failed = -1, err = 0;
	char msg[MSG_MAX];
	for (int i = 0; i < n; i++) {
		char m[MSG_MAX];
		int e = finish_tool(&runs[i], pid, m, sizeof(m));
		if (e && failed < 0) {
			failed = i;
			err = e;
			snprintf(msg, sizeof(msg), "%s", m);
		}
	}
	if (failed >= 0) {
		killwait(pid);
		fail(runs[failed].rec->index, runs[failed].rec->op, err, "%s", msg);
	}
}
