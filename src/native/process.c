/*
 * igloo-helper: the steps that shape the container's process (devconsole,
 * hostname, loopback, chdir, rlimit, ids, caps, nnp, seccomp) and `exec`
 * with its console, run in the container's process.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "mounts.h"
#include "oci.h"
#include "steps.h"
#include "util.h"
#include "failpoint.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- the console ----------------------------------------------------- */

/* console pty: the pty comes from the container's own /dev/ptmx (its
 * devpts instance), opened after `ids` so the slave belongs to the
 * container user. The master goes to the helper (SCM_RIGHTS); this process
 * becomes a session leader with the slave as controlling tty and stdio. */
static int open_pty(struct child_ctx *c, int *slave)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		FAIL(c, "open /dev/ptmx");
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		FAIL(c, "unlock the pty");
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		FAIL(c, "open the pty slave");
	/* Start with the caller's window size if it is a terminal, so that
	 * the first program does not see 0x0 (the helper follows SIGWINCH). */
	struct winsize ws;
	if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(s, TIOCSWINSZ, &ws);
	if (send_fd(c->consfd, m) < 0)
		FAIL(c, "send the pty master to the helper");
	close(m);
	close(c->consfd);
	c->consfd = -1;
	*slave = s;
	return 0;
}

static void console_pty(struct child_ctx *c)
{
	int s = c->pty_slave;
	if (s < 0)
		open_pty(c, &s);
	if (setsid() < 0)
		FAIL(c, "setsid");
	if (ioctl(s, TIOCSCTTY, 0) < 0)
		FAIL(c, "make the pty the controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(s, i) < 0)
			FAIL(c, "dup2 the pty to fd %d", i);
	if (s > 2)
		close(s);
}

/* A session of our own without a controlling terminal: the caller's
 * terminal (console inherit) stays usable as fds 0-2 but is no longer the
 * process's controlling tty, so TIOCSTI (which needs the caller's tty to be
 * ours, or CAP_SYS_ADMIN in the initial user namespace) cannot type into
 * the caller's shell, and TIOCSCTTY cannot take it back (it has a session).
 * It also puts the session leader inside the pid namespace, which CRIU
 * requires. A start's detached init already did it (setsid then fails). */
static void own_session(struct child_ctx *c)
{
	if (setsid() < 0 && getsid(0) != getpid())
		FAIL(c, "setsid");
}

static void console_setup(struct child_ctx *c)
{
	switch (c->plan->console) {
	case CONSOLE_INHERIT:
		own_session(c);
		break;
	case CONSOLE_NULL: {
		own_session(c);
		/* The container's own /dev/null when it has one (no host fd
		 * inside: CRIU cannot dump a file of a host mount), else the
		 * host's, opened before the steps. */
		int own = c->own_mntns ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
		int fd = own >= 0 ? own : c->nullfd;
		for (int i = 0; i < 3; i++)
			if (dup2(fd, i) < 0)
				FAIL(c, "dup2 /dev/null to fd %d", i);
		if (own >= 0)
			close(own);
		break;
	}
	case CONSOLE_PTY:
		console_pty(c);
		break;
	}
}

/* Close every fd >= 3 except the error pipe (close-on-exec: it reports
 * the exec's success by EOF). */
/* close_range(LO, HI), or, where a config's seccomp profile predates it
 * (EPERM, ENOSYS: runtime-tools' and older engines' profiles), close() on
 * each fd up to the descriptor limit. */
static int close_from(unsigned lo, unsigned hi)
{
	if (sys_close_range(lo, hi, 0) == 0)
		return 0;
	if (errno != EPERM && errno != ENOSYS)
		return -1;
	struct rlimit rl;
	unsigned max = 1u << 20;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
		max = (unsigned)rl.rlim_cur;
	for (unsigned fd = lo; fd <= hi && fd < max; fd++)
		(void)close((int)fd);
	return 0;
}

static void close_stray_fds(struct child_ctx *c)
{
	int e = c->errfd;
	if (e < 0) { /* past the gate: the error pipe is closed */
		if (close_from(3, ~0U) < 0)
			FAIL(c, "close_range");
		return;
	}
	if (e > 3 && close_from(3, (unsigned)e - 1) < 0)
		FAIL(c, "close_range");
	if (close_from((unsigned)e + 1, ~0U) < 0)
		FAIL(c, "close_range");
}

static char *env_path(char **env)
{
	for (char **e = env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return NULL;
}


/* devconsole: make the console pty now (after pivot, from the container's
 * own devpts) and bind its slave onto /dev/console, as a system
 * container's init expects: sysvinit and getty write to /dev/console, and
 * a console that is a file in the container's tmpfs stays checkpointable.
 * The slave becomes init's stdio at exec. */
void op_devconsole(struct child_ctx *c, char **a)
{
	(void)a;
	need_mntns(c);
	if (c->plan->console != CONSOLE_PTY)
		child_fail(c, EINVAL, "devconsole needs `console pty`");
	int s;
	open_pty(c, &s);
	char slave[64];
	fd_path(slave, sizeof(slave), s); /* /proc/self/fd/N: the slave itself */
	int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		FAIL(c, "create /dev/console");
	close(fd);
	if (mount(slave, "/dev/console", NULL, MS_BIND, NULL) < 0)
		FAIL(c, "bind %s onto /dev/console", slave);
	c->pty_slave = s;
}

/* ---- the process ---------------------------------------------------- */

void op_hostname(struct child_ctx *c, char **a)
{
	if (!c->own_utsns)
		child_fail(c, EINVAL, "hostname needs a private uts namespace");
	if (sethostname(a[0], strlen(a[0])) < 0)
		FAIL(c, "sethostname %s", a[0]);
}

/* loopback: bring `lo` up in the container's own network namespace. A new
 * namespace starts with it down, and programs expect 127.0.0.1 to work
 * (LXC and podman bring it up too). */
void op_loopback(struct child_ctx *c, char **a)
{
	(void)a;
	if (!c->own_netns)
		child_fail(c, EINVAL, "loopback needs a private network namespace");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		FAIL(c, "socket for lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		FAIL(c, "read the flags of lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		FAIL(c, "bring lo up");
	close(s);
}

/* chdir DIR, resolved beneath the root so that the cwd is in the container. */
void op_chdir(struct child_ctx *c, char **a)
{
	int fd = resolve(c, a[0], O_DIRECTORY);
	if (fd < 0)
		FAIL(c, "chdir %s", a[0]);
	if (fchdir(fd) < 0)
		FAIL(c, "chdir %s", a[0]);
	close(fd);
}

/* workdir DIR: chdir into the host directory DIR, opened (by `start`)
 * before the process took its ids in the new user namespace: DIR's
 * parents need not be traversable by those ids. Later steps and the
 * program reach DIR as "." (PROTOCOL.md). */
void op_workdir(struct child_ctx *c, char **a)
{
	int fd = c->workdir_pre;
	if (fd < 0)
		fd = open(a[0], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchdir(fd) < 0)
		FAIL(c, "workdir %s", a[0]);
	close(fd);
	c->workdir_pre = -1;
}

static const struct {
	const char *name;
	int res;
} rlimits[] = {
	{"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
	{"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
	{"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
	{"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
	{"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
	{"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
	{"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
	{"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static int parse_rlim(const char *s, rlim_t *out)
{
	unsigned long v;
	if (strcmp(s, "unlimited") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (parse_ulong(s, 10, &v) < 0)
		return -1;
	*out = (rlim_t)v;
	return 0;
}

void op_rlimit(struct child_ctx *c, char **a)
{
	int res = -1;
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++)
		if (strcmp(rlimits[i].name, a[0]) == 0)
			res = rlimits[i].res;
	if (res < 0)
		child_fail(c, EINVAL, "unknown rlimit '%s'", a[0]);
	struct rlimit rl;
	if (parse_rlim(a[1], &rl.rlim_cur) < 0 || parse_rlim(a[2], &rl.rlim_max) < 0)
		child_fail(c, EINVAL, "bad rlimit values '%s' '%s'", a[1], a[2]);
	if (setrlimit(res, &rl) < 0)
		FAIL(c, "setrlimit %s %s %s", a[0], a[1], a[2]);
}

/* ids UID GID N G1..GN: groups first, then gid, then uid (after setresuid
 * to a non-zero uid we no longer could change the others). */
void op_ids(struct child_ctx *c, char **a)
{
	unsigned long uid, gid, n;
	if (parse_ulong(a[0], 10, &uid) < 0 || parse_ulong(a[1], 10, &gid) < 0 ||
	    parse_ulong(a[2], 10, &n) < 0 || uid > 0xfffffffeUL ||
	    gid > 0xfffffffeUL)
		child_fail(c, EINVAL, "bad ids '%s' '%s' '%s'", a[0], a[1], a[2]);
	gid_t *groups = calloc(n ? n : 1, sizeof(gid_t));
	if (!groups)
		child_fail(c, ENOMEM, "ids: out of memory");
	for (unsigned long i = 0; i < n; i++) {
		unsigned long g;
		if (parse_ulong(a[3 + i], 10, &g) < 0 || g > 0xfffffffeUL)
			child_fail(c, EINVAL, "bad group '%s'", a[3 + i]);
		groups[i] = (gid_t)g;
	}
	/* With /proc/PID/setgroups = deny, setgroups fails with EPERM; an
	 * empty list is then what we have anyway (the unprivileged case). */
	if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0))
		FAIL(c, "setgroups (%lu groups)", n);
	free(groups);
	if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0)
		FAIL(c, "setresgid %lu", gid);
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		FAIL(c, "setresuid %lu", uid);
	/* A credential change clears the parent-death signal: re-arm it until
	 * exec. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
}


/* caps KEEP_HEX: every capability not in KEEP leaves the bounding set
 * (PR_CAPBSET_DROP, up to the kernel's last capability, so ones newer than
 * the plan are dropped too); the ambient and inheritable sets are cleared.
 * The effective and permitted sets are left alone: the steps after this
 * one (`ids`, and `seccomp` without no_new_privs) still need them, and
 * execve() recomputes them from the bounding set (root: exactly the
 * bounding set; any other uid: nothing). */
void op_caps(struct child_ctx *c, char **a)
{
	char *end;
	errno = 0;
	unsigned long long keep = strtoull(a[0], &end, 16);
	if (errno || end == a[0] || *end)
		child_fail(c, EINVAL, "bad capability mask '%s'", a[0]);
	for (int cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0)
			break; /* EINVAL: past the kernel's last capability */
		if (r == 1 && !(keep & (1ULL << cap)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			FAIL(c, "drop capability %d from the bounding set", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		FAIL(c, "clear the ambient capabilities");
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		FAIL(c, "capget");
	data[0].inheritable = 0;
	data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		FAIL(c, "clear the inheritable capabilities");
}

/* nnp: PR_SET_NO_NEW_PRIVS. execve() can then never grant privileges
 * (setuid/setgid bits and file capabilities are ignored), and the seccomp
 * filter can be installed without CAP_SYS_ADMIN. */
void op_nnp(struct child_ctx *c, char **a)
{
	(void)a;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		FAIL(c, "PR_SET_NO_NEW_PRIVS");
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* seccomp HEX: install the BPF program (struct sock_filter[], 8 bytes per
 * instruction, little endian, as hex). The kernel checks the program. It
 * needs no_new_privs or CAP_SYS_ADMIN in the user namespace: the plan puts
 * `nnp` first, or this record before `ids`. Everything the process does
 * from here on, exec included, passes the filter. */
void op_seccomp(struct child_ctx *c, char **a)
{
	size_t hl = strlen(a[0]);
	if (hl == 0 || hl % 16 || hl / 16 > BPF_MAXINSNS)
		child_fail(c, EINVAL,
			   "seccomp program must be 1..%d instructions of 16 hex digits",
			   BPF_MAXINSNS);
	size_t n = hl / 16;
	unsigned char *bytes = malloc(n * 8);
	if (!bytes)
		child_fail(c, ENOMEM, "seccomp: out of memory");
	for (size_t i = 0; i < n * 8; i++) {
		int h = hexval(a[0][2 * i]), l = hexval(a[0][2 * i + 1]);
		if (h < 0 || l < 0)
			child_fail(c, EINVAL, "seccomp program is not lowercase hex");
		bytes[i] = (unsigned char)(h << 4 | l);
	}
	struct sock_filter *f = calloc(n, sizeof(*f));
	if (!f)
		child_fail(c, ENOMEM, "seccomp: out of memory");
	for (size_t i = 0; i < n; i++) {
		const unsigned char *b = bytes + 8 * i;
		f[i].code = (uint16_t)(b[0] | b[1] << 8);
		f[i].jt = b[2];
		f[i].jf = b[3];
		f[i].k = (uint32_t)b[4] | (uint32_t)b[5] << 8 |
			 (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	}
	free(bytes);
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		int e = errno;
		if (e == EACCES)
			child_fail(c, e,
				   "install the seccomp filter: %s (it needs no_new_privs "
				   "or CAP_SYS_ADMIN in the container's user namespace)",
				   strerror(e));
		child_fail(c, e, "install the seccomp filter (%zu instructions): %s",
			   n, strerror(e));
	}
	free(f);
}

/* umask MODE (octal): the program's umask (OCI process.user.umask),
 * set just before exec instead of the caller's. */
void op_umask(struct child_ctx *c, char **a)
{
	unsigned long m;
	if (parse_ulong(a[0], 8, &m) < 0 || m > 0777)
		child_fail(c, EINVAL, "bad umask '%s'", a[0]);
	c->umask = (mode_t)m;
}

/* ---- exec ------------------------------------------------------------ */

/* exec FILE ARGC ARG... ENVC ENV...: console, umask back, stray fds closed,
 * then execve (PATH of the plan's environment when FILE has no slash). */
void op_exec(struct child_ctx *c, char **a)
{
	unsigned long argc, envc;
	(void)parse_ulong(a[1], 10, &argc); /* checked by plan.c */
	(void)parse_ulong(a[2 + argc], 10, &envc);
	char **argv = calloc(argc + 1, sizeof(char *));
	char **envp = calloc(envc + 1, sizeof(char *));
	if (!argv || !envp)
		child_fail(c, ENOMEM, "exec: out of memory");
	for (unsigned long i = 0; i < argc; i++)
		argv[i] = a[2 + i];
	for (unsigned long i = 0; i < envc; i++)
		envp[i] = a[3 + argc + i];
	const char *file = a[0];
	if (!*file)
		child_fail(c, ENOENT, "exec: empty file name");

	failpoint("child-before-exec");
	console_setup(c);
	umask(c->umask);
	(void)prctl(PR_SET_PDEATHSIG, 0);
	/* mode created: every step is done; wait there for `start` (oci.c). */
	if (c->gatefd >= 0) {
		const char *gp = env_path(envp);
		gate_wait(c, file, gp ? gp : DEFAULT_PATH);
	}
	close_stray_fds(c);

	if (strchr(file, '/')) {
		execve(file, argv, envp);
		FAIL(c, "exec %s", file);
	}
	const char *path = env_path(envp);
	if (!path)
		path = DEFAULT_PATH;
	int saw_eacces = 0, err = ENOENT;
	char full[PATH_MAX];
	const char *p = path;
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		if (dl == 0)
			snprintf(full, sizeof(full), "%s", file);
		else
			snprintf(full, sizeof(full), "%.*s/%s", (int)dl, p, file);
		execve(full, argv, envp);
		switch (errno) {
		case EACCES:
			saw_eacces = 1;
			/* fall through */
		case ENOENT:
		case ENOTDIR:
		case ENAMETOOLONG:
		case ELOOP:
			break;
		default:
			err = errno;
			child_fail(c, err, "exec %s: %s", full, strerror(err));
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	err = saw_eacces ? EACCES : ENOENT;
	child_fail(c, err, "exec %s (PATH=%s): %s", file, path, strerror(err));
}
