/*
 * igloo-helper: the step records, one function per op.
 *
 * Everything here runs in the container's process (the clone()d child for
 * `start`, the grandchild for `exec`), after the id maps are written. A
 * failing step writes a struct step_error on the close-on-exec error pipe
 * and exits 1; the helper parent turns it into an `ERROR` line. Messages
 * name the call and the path: "mount proc on /proc: Operation not permitted".
 *
 * Before `pivot`, every DST is resolved beneath the rootfs fd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): an absolute symlink or a
 * ".." in the rootfs stays inside the rootfs, so a hostile image cannot
 * point a mount at a host path. Mounts then target /proc/self/fd/N of the
 * resolved O_PATH fd, so the kernel mounts exactly on what we resolved.
 */
#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- failure reporting ---------------------------------------------- */

void child_fail_at(int errfd, int index, const char *op, int err,
		   const char *fmt, ...)
{
	struct step_error e;
	memset(&e, 0, sizeof(e));
	e.err = err;
	e.index = index;
	snprintf(e.op, sizeof(e.op), "%s", op);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	(void)write_all(errfd, &e, sizeof(e));
	_exit(1);
}

void child_fail(struct child_ctx *c, int err, const char *fmt, ...)
{
	struct step_error e;
	memset(&e, 0, sizeof(e));
	e.err = err;
	e.index = c->cur ? c->cur->index : 0;
	snprintf(e.op, sizeof(e.op), "%s", c->cur ? c->cur->op : "igloo-plan");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	(void)write_all(c->errfd, &e, sizeof(e));
	_exit(1);
}

/* Shorthand: the failing call's errno, and its text at the end. */
#define FAIL(c, fmt, ...)                                                    \
	do {                                                                 \
		int e_ = errno;                                              \
		child_fail((c), e_, fmt ": %s", ##__VA_ARGS__, strerror(e_)); \
	} while (0)

/* The helper blocks and ignores signals; the container's process must start
 * with default dispositions and an empty mask. */
void reset_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL); /* fails for KILL/STOP: fine */
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- resolving paths beneath the root -------------------------------- */

/* Open PATH as an O_PATH fd beneath the rootfs (or the current root when
 * there is no rootfs step, e.g. for exec), never following magic links. */
static int resolve(struct child_ctx *c, const char *path, int flags)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(O_PATH | O_CLOEXEC | flags);
	how.resolve = RESOLVE_NO_MAGICLINKS;
	int dirfd = AT_FDCWD;
	if (c->rootfd >= 0) {
		dirfd = c->rootfd;
		how.resolve |= RESOLVE_IN_ROOT;
	}
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename raced with RESOLVE_IN_ROOT */
		if (errno == EINTR || (errno == EAGAIN && tries < 16))
			continue;
		return -1;
	}
}

enum kind_wanted { WANT_DIR, WANT_FILE };

/*
 * Resolve PATH beneath the root, creating what is missing (mkdir -p; the
 * last component as an empty file for WANT_FILE). Each prefix is resolved
 * with openat2 in the root, and only a single plain name is ever created,
 * relative to an fd already resolved in the root: mkdirat() and
 * O_CREAT|O_EXCL do not follow a (dangling) symlink, so nothing can be
 * created outside the rootfs. Returns an O_PATH fd of the target.
 */
static int ensure_path(struct child_ctx *c, const char *path,
		       enum kind_wanted want, mode_t mode)
{
	if (!*path)
		child_fail(c, EINVAL, "empty path");
	int fd = resolve(c, path, 0);
	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			FAIL(c, "open %s", path);
		return fd;
	}
	size_t len = strlen(path);
	if (len >= PATH_MAX) {
		errno = ENAMETOOLONG;
		FAIL(c, "open %s", path);
	}
	char prefix[PATH_MAX];
	char name[PATH_MAX];
	int parent = resolve(c, path[0] == '/' ? "/" : ".", O_DIRECTORY);
	if (parent < 0)
		FAIL(c, "open the root for %s", path);
	size_t i = 0;
	for (;;) {
		while (path[i] == '/')
			i++;
		if (!path[i])
			break;
		size_t start = i;
		while (path[i] && path[i] != '/')
			i++;
		memcpy(name, path + start, i - start);
		name[i - start] = '\0';
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		size_t j = i;
		while (path[j] == '/')
			j++;
		int last = path[j] == '\0';

		fd = resolve(c, prefix, 0);
		if (fd < 0 && errno == ENOENT) {
			int r;
			if (last && want == WANT_FILE) {
				r = openat(parent, name,
					   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
						   O_CLOEXEC,
					   mode);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(parent, name, last ? mode : 0755);
			}
			if (r < 0 && errno != EEXIST)
				FAIL(c, "%s %s", last && want == WANT_FILE ? "create" : "mkdir",
				     prefix);
			fd = resolve(c, prefix, 0);
		}
		if (fd < 0)
			FAIL(c, "open %s", prefix);
		close(parent);
		parent = fd;
	}
	return parent;
}

static void fd_path(char *buf, size_t n, int fd)
{
	snprintf(buf, n, "/proc/self/fd/%d", fd);
}

static void need_mntns(struct child_ctx *c)
{
	/* Never touch the host's mount table by mistake. */
	if (!c->own_mntns)
		child_fail(c, EINVAL, "%s needs a private mount namespace",
			   c->cur->op);
}

/* ---- the steps ------------------------------------------------------- */

/* rootfs PATH: stop propagation to and from the host (the copied mount
 * table is still shared with it), then make the rootfs a mount point
 * (pivot_root needs one) and keep an fd of it: every later DST is resolved
 * beneath that fd.
 *
 * The rootfs was opened before we became the namespace's root (see
 * start_child): its parent directories may not be traversable by the
 * container's ids. So the mount is made from that fd, without a path:
 * open_tree() clones it as a detached mount, move_mount() attaches the
 * clone on top of the directory, and the clone's fd is the new root. */
static void op_rootfs(struct child_ctx *c, char **a)
{
	need_mntns(c);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		FAIL(c, "make / rprivate");
	int dir = c->rootfs_pre;
	if (dir < 0) {
		dir = open(a[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			FAIL(c, "open %s", a[0]);
	}
	int tree = (int)syscall(SYS_open_tree, dir, "",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
					AT_RECURSIVE | AT_EMPTY_PATH);
	if (tree < 0)
		FAIL(c, "open_tree %s", a[0]);
	if (syscall(SYS_move_mount, tree, "", dir, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		FAIL(c, "attach %s onto itself", a[0]);
	close(dir);
	c->rootfs_pre = -1;
	if (c->rootfd >= 0)
		close(c->rootfd);
	c->rootfd = tree;
}

/* rootfstmpfs OPTIONS: put a fresh tmpfs on top of the rootfs (after
 * `rootfs`), so a one-shot container's files live in memory only and the
 * steps that follow fill it (mkdir, symlink, bind). The new mount API makes
 * the tmpfs detached and attaches it onto the root fd, whose new value is
 * the tmpfs's root: no path is walked. OPTIONS is "k=v,k=v". */
static void op_rootfstmpfs(struct child_ctx *c, char **a)
{
	need_mntns(c);
	if (c->rootfd < 0)
		child_fail(c, EINVAL, "rootfstmpfs without a rootfs step");
	int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		FAIL(c, "fsopen tmpfs");
	char opts[256];
	snprintf(opts, sizeof(opts), "%s", a[0]);
	for (char *save = NULL, *kv = strtok_r(opts, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			child_fail(c, EINVAL, "tmpfs option '%s' is not k=v", kv);
		*eq = 0;
		if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, kv, eq + 1, 0) < 0)
			FAIL(c, "tmpfs option %s", kv);
	}
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		FAIL(c, "create the tmpfs");
	int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		FAIL(c, "fsmount tmpfs");
	close(fs);
	if (syscall(SYS_move_mount, mnt, "", c->rootfd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		FAIL(c, "attach the tmpfs onto the rootfs");
	close(c->rootfd);
	c->rootfd = mnt;
}

/* mount SRC DST FSTYPE FLAGS DATA */
static void op_mount(struct child_ctx *c, char **a)
{
	unsigned long flags;
	need_mntns(c);
	if (parse_ulong(a[3], 10, &flags) < 0)
		child_fail(c, EINVAL, "bad mount flags '%s'", a[3]);
	int fd = ensure_path(c, a[1], WANT_DIR, 0755);
	char target[64];
	fd_path(target, sizeof(target), fd);
	if (mount(a[0], target, a[2], flags, a[4][0] ? a[4] : NULL) < 0)
		FAIL(c, "mount %s on %s", a[0], a[1]);
	close(fd);
}

/* Translate statvfs flags (ST_*) to the MS_* bits a bind remount must
 * repeat: in a user namespace the kernel refuses to clear flags it has
 * locked on a mount copied from a more privileged namespace. */
static unsigned long locked_flags(int fd)
{
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return 0;
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ST_RDONLY, MS_RDONLY},       {ST_NOSUID, MS_NOSUID},
		{ST_NODEV, MS_NODEV},         {ST_NOEXEC, MS_NOEXEC},
		{ST_SYNCHRONOUS, MS_SYNCHRONOUS}, {ST_MANDLOCK, MS_MANDLOCK},
		{ST_NOATIME, MS_NOATIME},     {ST_NODIRATIME, MS_NODIRATIME},
		{ST_RELATIME, MS_RELATIME},
	};
	unsigned long ms = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv.f_flag & map[i].st)
			ms |= map[i].ms;
	return ms;
}

/* Give the mount just bound on DST the flags EXTRA (MS_RDONLY, MS_NOSUID,
 * MS_NODEV, MS_NOEXEC). A bind ignores them, so it takes a remount, which
 * must keep the flags the kernel has locked on the source; and a remount
 * changes the top mount only, so with RECURSIVE the submounts get the same
 * attributes through mount_setattr (kernel 5.12+). */
static void remount_bound(struct child_ctx *c, const char *dst, unsigned long extra,
			  int recursive)
{
	/* Re-resolve: the lookup now ends on the new mount. */
	int top = resolve(c, dst, 0);
	if (top < 0)
		FAIL(c, "open %s after bind", dst);
	char p[64];
	fd_path(p, sizeof(p), top);
	unsigned long keep = locked_flags(top);
	if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | keep | extra, NULL) < 0)
		FAIL(c, "remount %s with flags %#lx", dst, keep | extra);
	if (recursive) {
		struct mount_attr attr;
		memset(&attr, 0, sizeof(attr));
		if (extra & MS_RDONLY)
			attr.attr_set |= MOUNT_ATTR_RDONLY;
		if (extra & MS_NOSUID)
			attr.attr_set |= MOUNT_ATTR_NOSUID;
		if (extra & MS_NODEV)
			attr.attr_set |= MOUNT_ATTR_NODEV;
		if (extra & MS_NOEXEC)
			attr.attr_set |= MOUNT_ATTR_NOEXEC;
		if (sys_mount_setattr(top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
				      sizeof(attr)) < 0 &&
		    errno != ENOSYS)
			FAIL(c, "mount_setattr (recursive) on %s", dst);
	}
	close(top);
}

/* bind SRC DST FLAGS: SRC is a host path (open it first so that the mount
 * and the file/directory decision use the same object). The bind itself
 * ignores RDONLY/NOSUID/..., so those need a second, remount call on the
 * new mount. */
static void op_bind(struct child_ctx *c, char **a)
{
	unsigned long flags;
	need_mntns(c);
	if (parse_ulong(a[2], 10, &flags) < 0)
		child_fail(c, EINVAL, "bad bind flags '%s'", a[2]);
	int src = open(a[0], O_PATH | O_CLOEXEC);
	if (src < 0)
		FAIL(c, "open bind source %s", a[0]);
	struct stat st;
	if (fstat(src, &st) < 0)
		FAIL(c, "stat bind source %s", a[0]);
	int dst = ensure_path(c, a[1], S_ISDIR(st.st_mode) ? WANT_DIR : WANT_FILE,
			      S_ISDIR(st.st_mode) ? 0755 : 0644);
	char sp[64], dp[64];
	fd_path(sp, sizeof(sp), src);
	fd_path(dp, sizeof(dp), dst);
	if (mount(sp, dp, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
		FAIL(c, "bind %s on %s", a[0], a[1]);
	close(src);
	close(dst);

	unsigned long extra = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (extra)
		remount_bound(c, a[1], extra, flags & MS_REC);
}

/* mkdir DST MODE (octal); existing directory is fine; parents are made. */
static void op_mkdir(struct child_ctx *c, char **a)
{
	unsigned long mode;
	if (parse_ulong(a[1], 8, &mode) < 0 || mode > 07777)
		child_fail(c, EINVAL, "bad mode '%s'", a[1]);
	int fd = ensure_path(c, a[0], WANT_DIR, (mode_t)mode);
	struct stat st;
	if (fstat(fd, &st) < 0)
		FAIL(c, "stat %s", a[0]);
	if (!S_ISDIR(st.st_mode))
		child_fail(c, ENOTDIR, "mkdir %s: exists and is not a directory",
			   a[0]);
	close(fd);
}

/* symlink TARGET DST; an identical existing link is fine. */
static void op_symlink(struct child_ctx *c, char **a)
{
	const char *dst = a[1];
	size_t len = strlen(dst);
	while (len > 1 && dst[len - 1] == '/')
		len--;
	if (len >= PATH_MAX)
		child_fail(c, ENAMETOOLONG, "symlink %s: name too long", dst);
	char name[PATH_MAX], dir[PATH_MAX];
	memcpy(name, dst, len);
	name[len] = '\0';
	char *slash = strrchr(name, '/');
	const char *base;
	if (!slash) {
		strcpy(dir, ".");
		base = name;
	} else {
		base = slash + 1;
		size_t dl = slash == name ? 1 : (size_t)(slash - name);
		memcpy(dir, name, dl);
		dir[dl] = '\0';
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		child_fail(c, EINVAL, "symlink %s: bad link name", dst);
	int parent = ensure_path(c, dir, WANT_DIR, 0755);
	if (symlinkat(a[0], parent, base) < 0) {
		if (errno != EEXIST)
			FAIL(c, "symlink %s -> %s", dst, a[0]);
		char cur[PATH_MAX];
		ssize_t n = readlinkat(parent, base, cur, sizeof(cur) - 1);
		if (n < 0 || (size_t)n != strlen(a[0]) || memcmp(cur, a[0], (size_t)n)) {
			errno = EEXIST;
			FAIL(c, "symlink %s -> %s", dst, a[0]);
		}
	}
	close(parent);
}

/* pivot: make the rootfs "/" and detach the old root, so that no host path
 * is reachable any more. pivot_root(".", ".") stacks the old root on top
 * of the new one; umount2(".", MNT_DETACH) then removes it. */
static void op_pivot(struct child_ctx *c, char **a)
{
	(void)a;
	need_mntns(c);
	if (c->rootfd < 0)
		child_fail(c, EINVAL, "pivot without a rootfs step");
	if (fchdir(c->rootfd) < 0)
		FAIL(c, "chdir to the rootfs");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		FAIL(c, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		FAIL(c, "detach the old root");
	if (chdir("/") < 0)
		FAIL(c, "chdir /");
	/* c->rootfd still names the rootfs, which is now "/". */
}

static int open_pty(struct child_ctx *c, int *slave);

/* devconsole: make the console pty now (after pivot, from the container's
 * own devpts) and bind its slave onto /dev/console, as a system
 * container's init expects: sysvinit and getty write to /dev/console, and
 * a console that is a file in the container's tmpfs stays checkpointable.
 * The slave becomes init's stdio at exec. */
static void op_devconsole(struct child_ctx *c, char **a)
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

static void op_hostname(struct child_ctx *c, char **a)
{
	if (!c->own_utsns)
		child_fail(c, EINVAL, "hostname needs a private uts namespace");
	if (sethostname(a[0], strlen(a[0])) < 0)
		FAIL(c, "sethostname %s", a[0]);
}

/* loopback: bring `lo` up in the container's own network namespace. A new
 * namespace starts with it down, and programs expect 127.0.0.1 to work
 * (LXC and podman bring it up too). */
static void op_loopback(struct child_ctx *c, char **a)
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
static void op_chdir(struct child_ctx *c, char **a)
{
	int fd = resolve(c, a[0], O_DIRECTORY);
	if (fd < 0)
		FAIL(c, "chdir %s", a[0]);
	if (fchdir(fd) < 0)
		FAIL(c, "chdir %s", a[0]);
	close(fd);
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

static void op_rlimit(struct child_ctx *c, char **a)
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
static void op_ids(struct child_ctx *c, char **a)
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
static void close_stray_fds(struct child_ctx *c)
{
	int e = c->errfd;
	if (e > 3 && sys_close_range(3, (unsigned)e - 1, 0) < 0)
		FAIL(c, "close_range");
	if (sys_close_range((unsigned)e + 1, ~0U, 0) < 0)
		FAIL(c, "close_range");
}

static char *env_path(char **env)
{
	for (char **e = env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return NULL;
}

/* exec FILE ARGC ARG... ENVC ENV...: console, umask back, stray fds closed,
 * then execve (PATH of the plan's environment when FILE has no slash). */
static void op_exec(struct child_ctx *c, char **a)
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

	console_setup(c);
	umask(c->umask);
	(void)prctl(PR_SET_PDEATHSIG, 0);
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

/* ---- hardening ------------------------------------------------------- */

/* mask DST: make DST unreadable. A directory gets an empty read-only
 * tmpfs, anything else /dev/null (the host's, opened before pivot) bound
 * over it. A path this kernel does not have is skipped: there is nothing
 * to hide. Never creates anything. */
static void op_mask(struct child_ctx *c, char **a)
{
	need_mntns(c);
	int fd = resolve(c, a[0], 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		FAIL(c, "open %s", a[0]);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		FAIL(c, "stat %s", a[0]);
	char target[64];
	fd_path(target, sizeof(target), fd);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", target, "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0555,size=4k,nr_inodes=1") < 0)
			FAIL(c, "mount an empty read-only tmpfs on %s", a[0]);
	} else {
		int null = open("/dev/null", O_PATH | O_CLOEXEC);
		if (null < 0)
			FAIL(c, "open /dev/null to mask %s", a[0]);
		char src[64];
		fd_path(src, sizeof(src), null);
		if (mount(src, target, NULL, MS_BIND, NULL) < 0)
			FAIL(c, "bind /dev/null on %s", a[0]);
		close(null);
	}
	close(fd);
}

/* readonly DST: bind DST onto itself (recursively) and remount the new
 * mount read-only, with its submounts. Skipped when DST does not exist. */
static void op_readonly(struct child_ctx *c, char **a)
{
	need_mntns(c);
	int fd = resolve(c, a[0], 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		FAIL(c, "open %s", a[0]);
	}
	char p[64];
	fd_path(p, sizeof(p), fd);
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		FAIL(c, "bind %s onto itself", a[0]);
	close(fd);
	remount_bound(c, a[0], MS_RDONLY, 1);
}

/* caps KEEP_HEX: every capability not in KEEP leaves the bounding set
 * (PR_CAPBSET_DROP, up to the kernel's last capability, so ones newer than
 * the plan are dropped too); the ambient and inheritable sets are cleared.
 * The effective and permitted sets are left alone: the steps after this
 * one (`ids`, and `seccomp` without no_new_privs) still need them, and
 * execve() recomputes them from the bounding set (root: exactly the
 * bounding set; any other uid: nothing). */
static void op_caps(struct child_ctx *c, char **a)
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
static void op_nnp(struct child_ctx *c, char **a)
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
static void op_seccomp(struct child_ctx *c, char **a)
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

static const struct {
	const char *name;
	void (*fn)(struct child_ctx *, char **);
} step_ops[] = {
	{"mask", op_mask},         {"readonly", op_readonly},
	{"caps", op_caps},         {"nnp", op_nnp},
	{"devconsole", op_devconsole},
	{"rootfstmpfs", op_rootfstmpfs},
	{"rootfsidmap", op_rootfsidmap},
	{"seccomp", op_seccomp},
	{"rootfs", op_rootfs},     {"mount", op_mount}, {"bind", op_bind},
	{"mkdir", op_mkdir},       {"symlink", op_symlink}, {"pivot", op_pivot},
	{"hostname", op_hostname}, {"chdir", op_chdir}, {"rlimit", op_rlimit},
	{"loopback", op_loopback},
	{"ids", op_ids},           {"exec", op_exec},
};

/* Run the step records FROM..TO-1 in plan order. */
void run_step_range(struct child_ctx *c, size_t from, size_t to)
{
	const struct plan *p = c->plan;
	for (size_t i = from; i < to && i < p->nrecs; i++) {
		const struct record *r = &p->recs[i];
		c->cur = r;
		size_t k;
		for (k = 0; k < sizeof(step_ops) / sizeof(step_ops[0]); k++)
			if (strcmp(step_ops[k].name, r->op) == 0)
				break;
		if (k == sizeof(step_ops) / sizeof(step_ops[0]))
			child_fail(c, EINVAL, "unknown op '%s'", r->op);
		step_ops[k].fn(c, r->argv);
	}
}

/* Run the step records in plan order; `exec` (always last, see plan.c)
 * does not return. The order itself is the plan's: see PROTOCOL.md. */
void run_steps(struct child_ctx *c)
{
	run_step_range(c, c->plan->first_step, c->plan->nrecs);
	child_fail(c, EINVAL, "the plan does not end with exec");
}
