/*
 * igloo-helper: the file-system steps (rootfs, rootfstmpfs, mount, bind,
 * mkdir, symlink, pivot, mask, readonly), run in the container's process.
 * Messages name the call and the path: "mount proc on /proc: Operation not
 * permitted".
 *
 * Before `pivot`, every DST is resolved beneath the rootfs fd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): an absolute symlink or a
 * ".." in the rootfs stays inside the rootfs, so a hostile image cannot
 * point a mount at a host path. Mounts then target /proc/self/fd/N of the
 * resolved O_PATH fd, so the kernel mounts exactly on what we resolved.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "mounts.h"
#include "steps.h"
#include "util.h"

/* ---- resolving paths beneath the root -------------------------------- */

/* Open PATH as an O_PATH fd beneath the rootfs (or the current root when
 * there is no rootfs step, e.g. for exec), never following magic links. */
int resolve(struct child_ctx *c, const char *path, int flags)
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

void fd_path(char *buf, size_t n, int fd)
{
	snprintf(buf, n, "/proc/self/fd/%d", fd);
}

void need_mntns(struct child_ctx *c)
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
void op_rootfs(struct child_ctx *c, char **a)
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
void op_rootfstmpfs(struct child_ctx *c, char **a)
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
void op_mount(struct child_ctx *c, char **a)
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
void op_bind(struct child_ctx *c, char **a)
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
void op_mkdir(struct child_ctx *c, char **a)
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
void op_symlink(struct child_ctx *c, char **a)
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
void op_pivot(struct child_ctx *c, char **a)
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

/* DST beneath the root for a mount that hides or protects it (mask,
 * readonly): -1 when it does not exist, there is nothing to do then. */
static int resolve_if_exists(struct child_ctx *c, const char *dst)
{
	need_mntns(c);
	int fd = resolve(c, dst, 0);
	if (fd < 0 && errno != ENOENT)
		FAIL(c, "open %s", dst);
	return fd;
}

/* mask DST: make DST unreadable. A directory gets an empty read-only
 * tmpfs, anything else /dev/null (the host's, opened before pivot) bound
 * over it. A path this kernel does not have is skipped: there is nothing
 * to hide. Never creates anything. */
void op_mask(struct child_ctx *c, char **a)
{
	int fd = resolve_if_exists(c, a[0]);
	if (fd < 0)
		return;
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
void op_readonly(struct child_ctx *c, char **a)
{
	/* `readonly /` (OCI root.readonly): the rootfs is a mount
	 * already; only it becomes read-only, not the mounts on it (/dev,
	 * /proc...), as runc does. */
	if (strcmp(a[0], "/") == 0) {
		remount_bound(c, "/", MS_RDONLY, 0);
		return;
	}
	int fd = resolve_if_exists(c, a[0]);
	if (fd < 0)
		return;
	char p[64];
	fd_path(p, sizeof(p), fd);
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		FAIL(c, "bind %s onto itself", a[0]);
	close(fd);
	remount_bound(c, a[0], MS_RDONLY, 1);
}

/* writefile DST MODE DATA: DST (resolved beneath the root, created with
 * MODE, octal, if missing) gets DATA as its whole contents. The container's
 * own process writes it, with its ids: a link in the rootfs resolves inside
 * it, and what is written is only ever the container's file. Anything but
 * a regular file with one link is refused (resolv.conf; see
 * docs/network.md). */
void op_writefile(struct child_ctx *c, char **a)
{
	unsigned long mode;
	if (parse_ulong(a[1], 8, &mode) < 0 || mode > 0777)
		child_fail(c, EINVAL, "bad mode '%s'", a[1]);
	int pathfd = ensure_path(c, a[0], WANT_FILE, (mode_t)mode);
	struct stat st;
	if (fstat(pathfd, &st) < 0)
		FAIL(c, "stat %s", a[0]);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		child_fail(c, EPERM, "write %s: not a regular file with one link", a[0]);
	char p[64];
	fd_path(p, sizeof(p), pathfd);
	int fd = open(p, O_WRONLY | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		FAIL(c, "open %s", a[0]);
	if (write_all(fd, a[2], strlen(a[2])) < 0)
		FAIL(c, "write %s", a[0]);
	close(fd);
	close(pathfd);
}
