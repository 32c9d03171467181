/*
 * igloo-helper: extended attributes and file capabilities that Node cannot
 * read or write, and the ownership shift that must keep them.
 *
 *   igloo-helper xattrs set              stdin: PATH NUL NAME NUL HEX NUL ...
 *   igloo-helper xattrs copy-tree SRC DST
 *   igloo-helper shift DIR RANGE...      RANGE: u:FROM:TO:COUNT or g:FROM:TO:COUNT
 *
 * `set` applies the xattrs an image layer carries (pax SCHILY.xattr.*).
 * `copy-tree` gives every file under DST the xattrs of the file with the
 * same relative path under SRC (after a copy that kept none). `shift`
 * changes the owner of every file under DIR by the ranges (ids in no range
 * are left alone), keeping what chown(2) clears: the set-id bits, and
 * security.capability, whose v3 form names the user namespace's root: that
 * rootid is shifted by the uid ranges too (a v2 one, host root's, becomes
 * v3 when uid 0 is shifted).
 *
 * In a user namespace the kernel converts security.capability itself: a
 * capability written there is stored as v3 with the namespace's root as
 * rootid, and read back as v2 by that root. Symlinks cannot carry user.*
 * xattrs: EPERM/ENOTSUP on a symlink is skipped.
 *
 * Each prints problems on stderr, one line each, goes on, and exits 1 if
 * there were any (2 for bad usage).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "compat.h"
#include "util.h"
#include "xattrs.h"

#define CAP_NAME "security.capability"
#define VFS_CAP_REVISION_MASK 0xFF000000u
#define VFS_CAP_REVISION_2 0x02000000u
#define VFS_CAP_REVISION_3 0x03000000u
#define XATTR_CAPS_SZ_2 20
#define XATTR_CAPS_SZ_3 24

static int problems;

static void problem(const char *what, const char *path, int err)
{
	fprintf(stderr, "igloo-helper: %s %s: %s\n", what, path, strerror(err));
	problems++;
}

static int skip_err(const struct stat *st, int err)
{
	/* user.* on a symlink or special file: the kernel refuses, nothing lost */
	return (err == EPERM || err == ENOTSUP) && st && !S_ISREG(st->st_mode) &&
	       !S_ISDIR(st->st_mode);
}

/* ---- set ------------------------------------------------------------- */

static int unhex(const char *s, unsigned char *out, size_t *n)
{
	size_t len = strlen(s);
	if (len % 2)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*n = len / 2;
	return 0;
}

static int xattrs_set(void)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return 2;
	for (;;) {
		if (len == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				return 2;
			buf = nb;
		}
		ssize_t r = read(0, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 2;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	size_t pos = 0;
	while (pos < len) {
		const char *f[3];
		for (int i = 0; i < 3; i++) {
			const char *end = memchr(buf + pos, '\0', len - pos);
			if (!end) {
				fprintf(stderr, "igloo-helper: xattrs set: truncated record\n");
				return 2;
			}
			f[i] = buf + pos;
			pos = (size_t)(end - buf) + 1;
		}
		size_t hexlen = strlen(f[2]);
		unsigned char *value = malloc(hexlen / 2 + 1);
		size_t n = 0;
		if (!value || unhex(f[2], value, &n) < 0) {
			fprintf(stderr, "igloo-helper: xattrs set: bad value for %s\n", f[0]);
			return 2;
		}
		if (lsetxattr(f[0], f[1], value, n, 0) < 0) {
			int e = errno;
			struct stat st;
			int have = lstat(f[0], &st) == 0;
			if (e != ENOENT && !skip_err(have ? &st : NULL, e)) {
				fprintf(stderr, "igloo-helper: set %.200s on %s: %s\n",
					f[1], f[0], strerror(e));
				problems++;
			}
		}
		free(value);
	}
	free(buf);
	return problems ? 1 : 0;
}

/* ---- copy-tree --------------------------------------------------------- */

static const char *copy_src, *copy_dst;
static size_t copy_src_len;

static void copy_one(const char *src, const char *dst, const struct stat *st)
{
	char names[65536];
	ssize_t n = llistxattr(src, names, sizeof(names));
	if (n < 0) {
		if (errno != ENOTSUP)
			problem("list xattrs of", src, errno);
		return;
	}
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		unsigned char value[65536];
		ssize_t v = lgetxattr(src, name, value, sizeof(value));
		if (v < 0) {
			/* e.g. a v3 capability of another namespace: ENODATA */
			if (errno != ENODATA)
				problem("read xattr of", src, errno);
			continue;
		}
		if (lsetxattr(dst, name, value, (size_t)v, 0) < 0 &&
		    !skip_err(st, errno)) {
			int e = errno;
			fprintf(stderr, "igloo-helper: copy %.200s onto %s: %s\n",
				name, dst, strerror(e));
			problems++;
		}
	}
}

static int copy_visit(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	char dst[8192];
	int r = snprintf(dst, sizeof(dst), "%s%s", copy_dst, path + copy_src_len);
	if (r < 0 || (size_t)r >= sizeof(dst)) {
		problem("path too long:", path, ENAMETOOLONG);
		return 0;
	}
	copy_one(path, dst, st);
	return 0;
}

static int xattrs_copy_tree(const char *src, const char *dst)
{
	copy_src = src;
	copy_dst = dst;
	copy_src_len = strlen(src);
	if (nftw(src, copy_visit, 64, FTW_PHYS | FTW_MOUNT) < 0) {
		problem("walk", src, errno);
	}
	return problems ? 1 : 0;
}

/* ---- shift ------------------------------------------------------------- */

struct range {
	char kind;
	unsigned long from, to, count;
};
static struct range ranges[64];
static int nranges;
static unsigned long shifted;

static int map_id(char kind, unsigned long id, unsigned long *out)
{
	for (int i = 0; i < nranges; i++) {
		const struct range *r = &ranges[i];
		if (r->kind == kind && id >= r->from && id - r->from < r->count) {
			*out = r->to + (id - r->from);
			return 1;
		}
	}
	*out = id;
	return 0;
}

/* getxattrat(2) (Linux 6.13): read an xattr relative to a directory fd, so
 * the walk never looks a whole path up again. Older kernels: ENOSYS, and
 * the full path is used. The number is the same on every architecture. */
struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};
static int have_getxattrat = 1;

static ssize_t get_cap(int dirfd, const char *name, const char *full,
		       unsigned char *buf, size_t n)
{
	if (have_getxattrat) {
		struct xattr_args_v0 args = {.value = (uint64_t)(uintptr_t)buf,
					     .size = (uint32_t)n};
		long r = syscall(SYS_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW,
				 CAP_NAME, &args, sizeof(args));
		if (r >= 0 || errno != ENOSYS)
			return (ssize_t)r;
		have_getxattrat = 0;
	}
	return lgetxattr(full, CAP_NAME, buf, n);
}

/* One entry NAME of directory DIRFD (FULL: its whole path, for messages and
 * the rare calls that need one). */
static void shift_entry(int dirfd, const char *name, const char *full,
			const struct stat *st)
{
	unsigned long uid, gid;
	int mu = map_id('u', st->st_uid, &uid);
	int mg = map_id('g', st->st_gid, &gid);
	if (!mu && !mg)
		return;
	/* chown clears the set-id bits and security.capability: keep them */
	unsigned char cap[XATTR_CAPS_SZ_3];
	ssize_t caplen = -1;
	if (S_ISREG(st->st_mode))
		caplen = get_cap(dirfd, name, full, cap, sizeof(cap));
	if (fchownat(dirfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0) {
		problem("chown", full, errno);
		return;
	}
	if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) &&
	    fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
		problem("chmod", full, errno);
	if (caplen >= 4) {
		uint32_t magic = (uint32_t)cap[0] | (uint32_t)cap[1] << 8 |
				 (uint32_t)cap[2] << 16 | (uint32_t)cap[3] << 24;
		uint32_t rev = magic & VFS_CAP_REVISION_MASK;
		unsigned long root = 0, nroot;
		if (caplen == XATTR_CAPS_SZ_3 && rev == VFS_CAP_REVISION_3)
			root = (unsigned long)cap[20] | (unsigned long)cap[21] << 8 |
			       (unsigned long)cap[22] << 16 |
			       (unsigned long)cap[23] << 24;
		/* A v2 capability has no rootid: it is host root's, valid in
		 * every user namespace, the host's included. When uid 0 moves
		 * (a tree root copied on the host, shifted to a container's
		 * slice), it becomes a v3 one naming the new root, so the file
		 * gives nothing to a process outside the container. */
		int v2 = caplen == XATTR_CAPS_SZ_2 && rev == VFS_CAP_REVISION_2;
		if ((v2 || caplen == XATTR_CAPS_SZ_3) && map_id('u', root, &nroot)) {
			if (v2) {
				magic = (magic & ~VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_3;
				for (int i = 0; i < 4; i++)
					cap[i] = (unsigned char)(magic >> (8 * i));
				caplen = XATTR_CAPS_SZ_3;
			}
			for (int i = 0; i < 4; i++)
				cap[20 + i] = (unsigned char)(nroot >> (8 * i));
		}
		if (lsetxattr(full, CAP_NAME, cap, (size_t)caplen, 0) < 0)
			problem("restore security.capability on", full, errno);
	}
	shifted++;
}

/* Depth first, relative to directory fds (as chown -R does), staying on
 * the file system of the top (like nftw FTW_MOUNT), never following a
 * symlink. FULL is a buffer of PATH_MAX holding the path of at/name. */
static void shift_walk(int at, const char *name, char *full, size_t len,
		       dev_t dev)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		problem("stat", full, errno);
		return;
	}
	if (st.st_dev != dev)
		return;
	shift_entry(at, name, full, &st);
	if (!S_ISDIR(st.st_mode))
		return;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		problem("open", full, errno);
		return;
	}
	/* getdents64 into a buffer of this level: no DIR to allocate and free
	 * per directory (musl maps and unmaps one each time) */
	char buf[2048] __attribute__((aligned(8))); /* small: depth can reach PATH_MAX / 2 */
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (got < 0) {
			problem("read", full, errno);
			break;
		}
		if (got == 0)
			break;
		for (long off = 0; off < got;) {
			struct dirent64_v {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *e = (struct dirent64_v *)(buf + off);
			off += e->reclen;
			if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
				continue;
			size_t n = strlen(e->name);
			if (len + 1 + n >= PATH_MAX) {
				problem("path too long:", full, ENAMETOOLONG);
				continue;
			}
			full[len] = '/';
			memcpy(full + len + 1, e->name, n + 1);
			shift_walk(fd, e->name, full, len + 1 + n, dev);
			full[len] = '\0';
		}
	}
	close(fd);
}

static int parse_range(const char *s, struct range *r)
{
	char kind;
	unsigned long from, to, count;
	char extra;
	if (sscanf(s, "%c:%lu:%lu:%lu%c", &kind, &from, &to, &count, &extra) != 4 ||
	    (kind != 'u' && kind != 'g') || count == 0)
		return -1;
	*r = (struct range){kind, from, to, count};
	return 0;
}

int cmd_shift(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: igloo-helper shift DIR u:FROM:TO:COUNT|g:FROM:TO:COUNT...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (nranges == (int)(sizeof(ranges) / sizeof(ranges[0])) ||
		    parse_range(argv[i], &ranges[nranges]) < 0) {
			fprintf(stderr, "igloo-helper: shift: bad range '%s'\n", argv[i]);
			return 2;
		}
		nranges++;
	}
	struct stat top;
	char full[PATH_MAX];
	if (strlen(argv[2]) >= sizeof(full) || lstat(argv[2], &top) < 0) {
		problem("walk", argv[2], errno ? errno : ENAMETOOLONG);
	} else {
		strcpy(full, argv[2]);
		shift_walk(AT_FDCWD, argv[2], full, strlen(full), top.st_dev);
	}
	printf("SHIFTED %lu\n", shifted);
	return problems ? 1 : 0;
}

int cmd_xattrs(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[2], "set") == 0)
		return xattrs_set();
	if (argc == 5 && strcmp(argv[2], "copy-tree") == 0)
		return xattrs_copy_tree(argv[3], argv[4]);
	fprintf(stderr, "usage: igloo-helper xattrs set | xattrs copy-tree SRC DST\n");
	return 2;
}
