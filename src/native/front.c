/*
 * The `igloo` command's native front (the helper binary run under the name
 * `igloo`). Every igloo command is TypeScript, and Node needs some 70 ms to
 * start before igloo's own code runs; the two commands people run in loops,
 * `igloo exec NAME -- CMD` and `igloo run -- CMD`, would pay that on every
 * call. So TypeScript prepares their plans ahead of time (PROTOCOL.md,
 * "Prepared plans"): at `start` the exec plan of the container, after a
 * one-shot run the plan of the next one, with a slice of ids reserved for
 * it. This front reads such a plan, checks that it still holds, adds the
 * command and runs it as `igloo-helper start|exec` would.
 *
 * It decides nothing itself: any option, any doubt (no plan, a plan whose
 * container has stopped, a host file that changed since, the one-shot slot
 * busy with another run) and any error the helper reports before the
 * command runs hands the whole command line to the TypeScript CLI
 * unchanged, which then does the work and says what went wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirs.h"
#include "front.h"
#include "helper.h"
#include "plan.h"
#include "report.h"
#include "util.h"

#define PREPARED_MAX (256 * 1024)

static char **front_argv; /* the command line, for the hand-over */
static pid_t front_pid;   /* the front's own pid (not a child's) */
static int front_failed;  /* the helper reported an error */

/* Runs the TypeScript CLI with the same command line: dist/igloo.mjs next
 * to dist/libexec/igloo-helper (this binary), or $IGLOO_CLI. Like the
 * script's #! line, it drops NODE_EXTRA_CA_CERTS (igloo opens no TLS
 * connection; Node 20 loads the file at every start). */
static void __attribute__((noreturn)) hand_over(void)
{
	char cli[PATH_MAX];
	const char *override = getenv("IGLOO_CLI");
	if (override && *override) {
		snprintf(cli, sizeof(cli), "%s", override);
	} else {
		ssize_t n = readlink("/proc/self/exe", cli, sizeof(cli) - 32);
		if (n < 0) {
			fprintf(stderr, "igloo: cannot find igloo.mjs: readlink /proc/self/exe: %s\n",
				strerror(errno));
			_exit(70);
		}
		cli[n] = '\0';
		/* .../dist/libexec/igloo-helper -> .../dist/igloo.mjs */
		for (int i = 0; i < 2; i++) {
			char *slash = strrchr(cli, '/');
			if (slash)
				*slash = '\0';
		}
		strcat(cli, "/igloo.mjs");
	}
	int argc = 0;
	while (front_argv[argc])
		argc++;
	char **args = calloc((size_t)argc + 2, sizeof(char *));
	if (!args)
		_exit(70);
	args[0] = "node";
	args[1] = cli;
	for (int i = 1; i < argc; i++)
		args[i + 1] = front_argv[i];
	unsetenv("NODE_EXTRA_CA_CERTS");
	/* A helper that failed may have blocked or ignored signals: the mask
	 * and SIG_IGN would pass through exec to Node. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	execvp("node", args);
	fprintf(stderr, "igloo: cannot run node (%s): %s\n  hint: install Node.js 20 or newer\n",
		cli, strerror(errno));
	_exit(127);
}

/* exit() of the front after the helper reported an error: the command never
 * ran, so the TypeScript CLI may do it all again and report the error with
 * its advice. Children (_exit) never come here. */
static void hand_over_on_error(void)
{
	if (front_failed && getpid() == front_pid)
		hand_over();
}

/* The error sink while the front runs a plan: an ERROR line means the
 * command never ran, and TypeScript says it better (hand_over_on_error). */
static void note_error(const char *line, size_t n)
{
	(void)line;
	(void)n;
	front_failed = 1;
}

/* validateName() of src/core/config/name.ts, or stricter: a name it would
 * refuse goes to TypeScript, which says why. */
static int plain_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
				  (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* `stamp INO SIZE MTIME_NS CTIME_NS PATH`: the file has not changed since
 * the plan was made (PATH `/proc/self/exe`: this binary is the helper the
 * plan was made for). */
static int stamp_holds(const char *line)
{
	unsigned long long ino, size, mtime, ctime;
	int off = 0;
	if (sscanf(line, "%llu %llu %llu %llu %n", &ino, &size, &mtime, &ctime, &off) != 4 ||
	    off == 0)
		return 0;
	struct stat st;
	if (stat(line + off, &st) < 0)
		return 0;
	return (unsigned long long)st.st_ino == ino && (unsigned long long)st.st_size == size &&
	       (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec == mtime &&
	       (unsigned long long)st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec == ctime;
}

struct prepared {
	char *buf;      /* the whole file */
	size_t size;
	size_t body;    /* offset of the plan records */
	size_t prefix;  /* their length up to the exec record; the env follows */
};

/* Reads and checks a prepared plan of KIND. 0 when it can be used. */
static int read_prepared(const char *path, const char *kind, struct prepared *out)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	/* Made by igloo for this user: theirs, and nobody else may write it. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || st.st_size <= 0 || st.st_size > PREPARED_MAX) {
		close(fd);
		return -1;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf || read_full(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return -1;
	}
	close(fd);
	buf[st.st_size] = '\0';
	size_t size = (size_t)st.st_size;

	int ok_magic = 0, ok_kind = 0, have_prefix = 0;
	size_t prefix = 0;
	char *line = buf;
	for (;;) {
		char *nl = memchr(line, '\n', size - (size_t)(line - buf));
		if (!nl)
			goto bad;
		*nl = '\0';
		if (*line == '\0') {
			line = nl + 1;
			break;
		}
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = "";
		if (strcmp(line, "igloo-prepared") == 0) {
			ok_magic = strcmp(arg, "1") == 0;
		} else if (strcmp(line, "kind") == 0) {
			ok_kind = strcmp(arg, kind) == 0;
		} else if (strcmp(line, "init") == 0) {
			long pid;
			unsigned long long start;
			if (sscanf(arg, "%ld %llu", &pid, &start) != 2 || pid <= 0 ||
			    proc_start_time(pid) != start)
				goto bad; /* the container stopped (or was restarted) */
		} else if (strcmp(line, "stamp") == 0) {
			if (!stamp_holds(arg))
				goto bad;
		} else if (strcmp(line, "prefix") == 0) {
			char *end;
			unsigned long long v = strtoull(arg, &end, 10);
			if (*end != '\0')
				goto bad;
			prefix = (size_t)v;
			have_prefix = 1;
		} else if (strcmp(line, "reserve") != 0) {
			goto bad; /* a newer igloo wrote it */
		}
		line = nl + 1;
	}
	if (!ok_magic || !ok_kind || !have_prefix)
		goto bad;
	size_t body = (size_t)(line - buf);
	if (prefix > size - body)
		goto bad;
	out->buf = buf;
	out->size = size;
	out->body = body;
	out->prefix = prefix;
	return 0;
bad:
	free(buf);
	return -1;
}

static int put(int fd, const char *s)
{
	return write_all(fd, s, strlen(s) + 1);
}

/* Writes the plan: the prepared records, `exec FILE ARGC ARG...`, then the
 * prepared environment; on fd 3 for the helper's plan_read(). */
static int plan_on_fd3(const struct prepared *pp, char **cmd, int ncmd)
{
	int fd = (int)syscall(SYS_memfd_create, "igloo-plan", 0);
	if (fd < 0)
		return -1;
	char num[16];
	snprintf(num, sizeof(num), "%d", ncmd);
	if (write_all(fd, pp->buf + pp->body, pp->prefix) < 0 || put(fd, "exec") < 0 ||
	    put(fd, cmd[0]) < 0 || put(fd, num) < 0)
		return -1;
	for (int i = 0; i < ncmd; i++)
		if (put(fd, cmd[i]) < 0)
			return -1;
	if (write_all(fd, pp->buf + pp->body + pp->prefix, pp->size - pp->body - pp->prefix) < 0)
		return -1;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	if (fd != PLAN_FD) {
		if (dup2(fd, PLAN_FD) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

/* -t/--tty and -T/--no-tty as the TypeScript CLI reads them (ttyChoice in
 * src/cli/commands/containers.ts): a pty when asked for, or, without
 * either, when stdin and stdout are terminals. tty_flag notes ARG in *want
 * (2: no flag yet, 1: -t, 0: -T, -1: both, which TypeScript reports) and
 * says whether ARG was one of them. */
static int tty_flag(const char *arg, int *want)
{
	int flag;
	if (strcmp(arg, "-t") == 0 || strcmp(arg, "--tty") == 0)
		flag = 1;
	else if (strcmp(arg, "-T") == 0 || strcmp(arg, "--no-tty") == 0)
		flag = 0;
	else
		return 0;
	if (*want == 2)
		*want = flag;
	else if (*want != flag)
		*want = -1;
	return 1;
}

static int choose_tty(int want)
{
	if (want >= 0)
		return want;
	return isatty(0) && isatty(1);
}

/* `igloo exec NAME [-t|-T] -- CMD...` with the container's prepared plan. */
static void try_exec(int argc, char **argv, const char *run)
{
	const char *name = NULL;
	int want = 2, i = 2; /* 2: neither flag */
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (tty_flag(argv[i], &want))
			continue;
		else if (argv[i][0] == '-' || name)
			return; /* an option only TypeScript knows */
		else
			name = argv[i];
	}
	if (want < 0 || !name || !plain_name(name) || i + 1 >= argc)
		return;
	int tty = choose_tty(want == 2 ? -1 : want);
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s/prepared-exec%s", run, name, tty ? "-tty" : "") >=
	    (int)sizeof(path))
		return;
	struct prepared pp;
	if (read_prepared(path, "exec", &pp) < 0)
		return;
	if (plan_on_fd3(&pp, argv + i + 1, argc - i - 1) < 0)
		return;
	free(pp.buf);
	exit(helper_run_plan(PLAN_EXEC, 0, NULL));
}

/* `--net private` (or `--net=private`) at argv[*i]: the one-shot slot's
 * plan is private (lo only), so it may run it; *i is left on the value. */
static int net_private_flag(int argc, char **argv, int *i)
{
	if (strcmp(argv[*i], "--net=private") == 0)
		return 1;
	if (strcmp(argv[*i], "--net") == 0 && *i + 1 < argc &&
	    strcmp(argv[*i + 1], "private") == 0) {
		(*i)++;
		return 1;
	}
	return 0;
}

/* `igloo run [--net private] -- CMD...`: the one-shot slot's prepared plan, while no other
 * run holds the slot (its lock stays held until the helper exits). */
static void try_run(int argc, char **argv, const char *data)
{
	int want = 2, i = 2;
	while (i < argc && (tty_flag(argv[i], &want) || net_private_flag(argc, argv, &i)))
		i++;
	if (want < 0 || i + 1 >= argc || strcmp(argv[i], "--") != 0)
		return;
	/* the slot's plan has `console inherit`: a pty replaces it */
	int tty = choose_tty(want == 2 ? -1 : want);
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/prepared/run/lock", data) >= (int)sizeof(path))
		return;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Above fd 3, where the plan goes (and the lock would be let go). */
	int lock = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	if (lock < 0)
		return;
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		close(lock); /* another run has the slot: TypeScript makes a slice for this one */
		return;
	}
	if (snprintf(path, sizeof(path), "%s/prepared/run/plan", data) >= (int)sizeof(path)) {
		close(lock);
		return;
	}
	struct prepared pp;
	if (read_prepared(path, "run", &pp) < 0 ||
	    plan_on_fd3(&pp, argv + i + 1, argc - i - 1) < 0) {
		close(lock);
		return;
	}
	free(pp.buf);
	exit(helper_run_plan(PLAN_START, tty, NULL));
}

void front_main(int argc, char **argv)
{
	front_argv = argv;
	front_pid = getpid();
	const char *off = getenv("IGLOO_PREPARED");
	if (argc >= 2 && !(off && strcmp(off, "0") == 0)) {
		char data[PATH_MAX - 64], run[PATH_MAX - 64];
		igloo_dirs(data, run, sizeof(data));
		if (atexit(hand_over_on_error) == 0) {
			sync_fd = -1; /* nobody listens: errors come back to us */
			set_error_sink(note_error);
			if (strcmp(argv[1], "exec") == 0)
				try_exec(argc, argv, run);
			else if (strcmp(argv[1], "run") == 0)
				try_run(argc, argv, data);
		}
	}
	hand_over();
}

void front_runc(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(char *));
	if (!args)
		_exit(70);
	args[0] = argv[0];
	args[1] = "oci";
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	front_argv = args;
	hand_over();
}
