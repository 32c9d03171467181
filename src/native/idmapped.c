/*
 * igloo-helper: one image shared by root's containers, through an idmapped
 * mount under an overlay (the `rootfsidmap` step and `idmap-check`).
 *
 * The image directory keeps the ids it was stored with (0..65535). For each
 * container the helper makes a detached clone of it whose ids are mapped
 * through the container's user namespace (mount_setattr MOUNT_ATTR_IDMAP),
 * and the container mounts an overlay with that clone as its lower layer and
 * an upper and a work directory of its own: the image is read through the
 * container's ids and never written; the container's writes land in its
 * upper directory, owned by its ids.
 *
 * Who does what (found by experiment on 6.18, ext4):
 *   - mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN in the user
 *     namespace that owns the file system (the initial one for ext4): the
 *     container's process gets EPERM. So the helper parent, still root of
 *     the initial namespace, makes the idmapped mount.
 *   - The user namespace given as the idmapping must have its maps written
 *     (EINVAL before): the parent does it once the maps are in place
 *     (after installing them, or after the caller's MAPPED), before the
 *     child goes on. The clone itself (open_tree OPEN_TREE_CLONE) is made
 *     before clone(), so the child inherits the fd of the very same
 *     detached mount and nothing has to be passed over a socket.
 *   - The overlay is mounted by the child, in its own user namespace
 *     (overlayfs allows that; `userxattr`: its private xattrs are user.*
 *     ones, since trusted.* cannot be set from a user namespace): its
 *     mounter is the container's root, not host root. A lower layer that is
 *     still a detached mount (of the parent's anonymous mount namespace) is
 *     not found as lowerdir=/proc/self/fd/N (ENOENT): the child first
 *     attaches it onto its rootfs, then stacks the overlay on it. (An
 *     overlay mounted by the parent works too, but its mounter would be
 *     host root, its whiteouts root's and its private xattrs trusted.*.)
 *   - Root's shared images are stored shifted (host/layers.ts, lifecycle/
 *     idmapped.ts): the image's id N is BASE+N on disk, BASE being the owner
 *     of the image's root directory (an id range no one on the host has), so
 *     no file of an untrusted image is setuid host root, no file capability
 *     is host root's, and nothing on disk belongs to a real user. The
 *     idmapping is then not the container's own user namespace but a
 *     throwaway one whose map is the container's with every inside id
 *     moved up by BASE (on-disk BASE+N -> the container's host id of N),
 *     made here by a short-lived child the parent gives that map. The
 *     mount keeps its user namespace alive; the child exits at once. An
 *     image whose root directory is owned by 0:0 (unpacked before this
 *     change) is idmapped through the container's namespace, as before.
 *   - Upper and work directories lie in the container's directory, which the
 *     container's ids cannot traverse: the child opens them (O_PATH) before
 *     it becomes root of its namespace, as for `rootfs`, and hands the fds
 *     to the overlay (FSCONFIG_SET_FD).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "idmapped.h"
#include "report.h"
#include "util.h"

static struct {
	int index; /* record index of `rootfsidmap`, -1 if the plan has none */
	const char *lower, *upper, *work;
	int lowerfd; /* detached clone of LOWER, made before clone() */
	int upperfd, workfd; /* O_PATH, opened by the child (idmap_open_layers) */
	uid_t base_uid; /* on-disk id of the image's id 0 (its root directory's owner) */
	gid_t base_gid;
} idm = {.index = -1, .lowerfd = -1, .upperfd = -1, .workfd = -1};

/* Ids of a shifted image: BASE..BASE+SHIFT_SPAN-1 on disk (host/layers.ts). */
#define SHIFT_SPAN 65536u

/* Parent, before clone(): find the step and clone the image's mount. */
void idmap_prepare(const struct plan *p)
{
	const struct record *r = plan_find_step(p, OP_rootfsidmap);
	if (!r)
		return;
	if (!(p->ns_flags & CLONE_NEWUSER))
		fail(r->index, r->op, EINVAL,
		     "rootfsidmap needs a new user namespace (its ids are the mapping)");
	idm.index = r->index;
	idm.lower = r->argv[0];
	idm.upper = r->argv[1];
	idm.work = r->argv[2];
	idm.lowerfd = (int)syscall(SYS_open_tree, AT_FDCWD, idm.lower,
				   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (idm.lowerfd < 0)
		fail(r->index, r->op, errno, "open_tree %s: %s", idm.lower, strerror(errno));
	struct stat st;
	if (fstat(idm.lowerfd, &st) < 0)
		fail(r->index, r->op, errno, "stat %s: %s", idm.lower, strerror(errno));
	idm.base_uid = st.st_uid;
	idm.base_gid = st.st_gid;
}

/* The idmapping of mount MNT becomes that of user namespace USERNS. */
static int set_idmap(int mnt, int userns)
{
	struct mount_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_IDMAP;
	attr.userns_fd = (uint64_t)userns;
	return sys_mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr));
}

/* The map of /proc/PID/FILE (uid_map or gid_map, "inside outside count" per
 * line) with every inside id below SHIFT_SPAN moved up by BASE, into OUT.
 * Returns 0, or -1 with errno set. */
static int shifted_map(pid_t pid, const char *file, unsigned long base, char *out, size_t n)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (len < 0) {
		errno = e;
		return -1;
	}
	buf[len] = '\0';
	size_t used = 0;
	out[0] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long in, outside, count;
		if (sscanf(line, "%lu %lu %lu", &in, &outside, &count) != 3)
			continue;
		if (in >= SHIFT_SPAN)
			continue;
		if (count > SHIFT_SPAN - in)
			count = SHIFT_SPAN - in;
		if (base + in + count > 4294967295ul) {
			errno = ERANGE;
			return -1;
		}
		int w = snprintf(out + used, n - used, "%lu %lu %lu\n", base + in, outside, count);
		if (w < 0 || (size_t)w >= n - used) {
			errno = E2BIG;
			return -1;
		}
		used += (size_t)w;
	}
	if (used == 0) {
		errno = EINVAL; /* the container maps none of the image's ids */
		return -1;
	}
	return 0;
}

/* A user namespace whose maps are UIDMAP and GIDMAP, held by a child that
 * exits once the namespace is open. Returns its fd, or -1 with errno set. */
static int userns_with_maps(const char *uidmap, const char *gidmap)
{
	int go[2], ready[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(ready, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		close(ready[0]);
		close(ready[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(3);
		if (write(ready[1], "u", 1) != 1)
			_exit(3);
		char ch;
		while (read(go[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char ch;
	ssize_t r;
	do
		r = read(ready[0], &ch, 1);
	while (r < 0 && errno == EINTR);
	close(ready[0]);
	int e = r == 1 ? 0 : ECHILD;
	const char *files[2] = {"uid_map", "gid_map"};
	const char *maps[2] = {uidmap, gidmap};
	for (int i = 0; i < 2 && e == 0; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		size_t len = strlen(maps[i]);
		if (fd < 0 || write(fd, maps[i], len) != (ssize_t)len)
			e = errno ? errno : EIO;
		if (fd >= 0)
			close(fd);
	}
	int ns = -1;
	if (e == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		if (ns < 0)
			e = errno;
	}
	close(go[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = e;
	return ns;
}

/* Parent, once the maps are written: map the clone through the child's user namespace.
 * Returns -1 after reporting ERROR (the caller kills the child). */
int idmap_apply(pid_t pid)
{
	if (idm.index < 0)
		return 0;
	char path[64];
	int userns;
	if (idm.base_uid != 0 || idm.base_gid != 0) {
		/* A shifted image: the container's maps, moved up by the base. */
		char uidmap[512], gidmap[512];
		if (shifted_map(pid, "uid_map", idm.base_uid, uidmap, sizeof(uidmap)) < 0 ||
		    shifted_map(pid, "gid_map", idm.base_gid, gidmap, sizeof(gidmap)) < 0 ||
		    (userns = userns_with_maps(uidmap, gidmap)) < 0) {
			int e = errno;
			char msg[MSG_MAX];
			snprintf(msg, sizeof(msg),
				 "make the idmapping of %s (its ids start at %u:%u on disk): %s",
				 idm.lower, (unsigned)idm.base_uid, (unsigned)idm.base_gid,
				 strerror(e));
			report_error(idm.index, "rootfsidmap", e, msg);
			return -1;
		}
	} else {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		userns = open(path, O_RDONLY | O_CLOEXEC);
		if (userns < 0) {
			char msg[MSG_MAX];
			snprintf(msg, sizeof(msg), "open %s: %s", path, strerror(errno));
			report_error(idm.index, "rootfsidmap", errno, msg);
			return -1;
		}
	}
	int r = set_idmap(idm.lowerfd, userns);
	int e = errno;
	close(userns);
	if (r < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof(msg),
			 "idmap the mount of %s (mount_setattr MOUNT_ATTR_IDMAP): %s",
			 idm.lower, strerror(e));
		report_error(idm.index, "rootfsidmap", e, msg);
		return -1;
	}
	/* The child holds its own fd of the same mount. */
	close(idm.lowerfd);
	idm.lowerfd = -1;
	return 0;
}

/* Child, once mapped and before it becomes root of its namespace: open the
 * upper and work directories while the caller's host ids can still reach
 * them (the container's directory is 0700). */
void idmap_open_layers(int err_w)
{
	if (idm.index < 0)
		return;
	const char *paths[2] = {idm.upper, idm.work};
	int *fds[2] = {&idm.upperfd, &idm.workfd};
	for (int i = 0; i < 2; i++) {
		*fds[i] = open(paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*fds[i] < 0)
			child_fail_at(err_w, idm.index, "rootfsidmap", errno,
				      "open %s: %s", paths[i], strerror(errno));
	}
}

/* fsconfig() failed: the file system's own message, if it logged one. */
static void fs_log(int fs, char *buf, size_t n)
{
	buf[0] = '\0';
	ssize_t r = read(fs, buf, n - 1);
	if (r > 0) {
		buf[r] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	} else {
		buf[0] = '\0';
	}
}

#define FSFAIL(c, fs, what)                                                   \
	do {                                                                  \
		int e_ = errno;                                               \
		char log_[256];                                               \
		fs_log((fs), log_, sizeof(log_));                             \
		child_fail((c), e_, "%s: %s%s%s", (what), strerror(e_),       \
			   log_[0] ? " (" : "", log_[0] ? log_ + 2 : "");     \
	} while (0)

/* rootfsidmap LOWER UPPER WORK (child, right after `rootfs`): attach the
 * idmapped clone of LOWER onto the rootfs, stack an overlay (lower: that
 * clone; upper, work: the container's) on it, and make the overlay the root
 * for the steps that follow. */
void op_rootfsidmap(struct child_ctx *c, char **a)
{
	(void)a;
	if (!c->own_mntns)
		child_fail(c, EINVAL, "rootfsidmap needs a private mount namespace");
	if (c->rootfd < 0)
		child_fail(c, EINVAL, "rootfsidmap without a rootfs step");
	if (idm.lowerfd < 0 || idm.upperfd < 0 || idm.workfd < 0)
		child_fail(c, EINVAL, "rootfsidmap: the idmapped image was not prepared");
	if (syscall(SYS_move_mount, idm.lowerfd, "", c->rootfd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		child_fail(c, e, "attach the idmapped image %s onto the rootfs: %s",
			   idm.lower, strerror(e));
	}
	int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		int e = errno;
		child_fail(c, e, "fsopen overlay: %s", strerror(e));
	}
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, idm.lowerfd) < 0)
		FSFAIL(c, fs, "overlay lowerdir+ (the idmapped image)");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "upperdir", NULL, idm.upperfd) < 0)
		FSFAIL(c, fs, "overlay upperdir");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "workdir", NULL, idm.workfd) < 0)
		FSFAIL(c, fs, "overlay workdir");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		FSFAIL(c, fs, "overlay userxattr");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		FSFAIL(c, fs, "create the overlay");
	int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		FSFAIL(c, fs, "fsmount overlay");
	close(fs);
	if (syscall(SYS_move_mount, mnt, "", idm.lowerfd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		child_fail(c, e, "attach the overlay onto the rootfs: %s", strerror(e));
	}
	close(idm.lowerfd);
	close(idm.upperfd);
	close(idm.workfd);
	idm.lowerfd = idm.upperfd = idm.workfd = -1;
	close(c->rootfd);
	c->rootfd = mnt;
}

/*
 * igloo-helper idmap-check DIR: can DIR's file system be idmapped here?
 * Clones DIR's mount, makes a throwaway user namespace (0 -> 65534, one id)
 * and tries MOUNT_ATTR_IDMAP with it. Prints `IDMAP ok` or
 * `IDMAP <ERRNO-NAME> <message>` and exits 0; exits 2 if the check itself
 * could not run.
 */
int cmd_idmap_check(const char *dir)
{
	char eb[16];
	int mnt = (int)syscall(SYS_open_tree, AT_FDCWD, dir,
			       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (mnt < 0) {
		printf("IDMAP %s open_tree %s: %s\n", errno_name(errno, eb, sizeof(eb)),
		       dir, strerror(errno));
		return 0;
	}
	/* a throwaway namespace mapping one unprivileged id is enough to
	 * see whether this file system takes idmapped mounts */
	int result = 0;
	int userns = userns_with_maps("0 65534 1\n", "0 65534 1\n");
	if (userns < 0) {
		result = 2;
	} else {
		if (set_idmap(mnt, userns) < 0) {
			int e = errno;
			printf("IDMAP %s mount_setattr MOUNT_ATTR_IDMAP on %s: %s\n",
			       errno_name(e, eb, sizeof(eb)), dir, strerror(e));
		} else {
			printf("IDMAP ok\n");
		}
		close(userns);
	}
	close(mnt);
	return result;
}
