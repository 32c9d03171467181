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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

static struct {
	int index; /* record index of `rootfsidmap`, -1 if the plan has none */
	const char *lower, *upper, *work;
	int lowerfd; /* detached clone of LOWER, made before clone() */
	int upperfd, workfd; /* O_PATH, opened by the child (idmap_open_layers) */
} idm = {.index = -1, .lowerfd = -1, .upperfd = -1, .workfd = -1};

/* Parent, before clone(): find the step and clone the image's mount. */
void idmap_prepare(const struct plan *p)
{
	for (size_t i = p->first_step; i < p->nrecs; i++) {
		const struct record *r = &p->recs[i];
		if (strcmp(r->op, "rootfsidmap") != 0)
			continue;
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
			fail(r->index, r->op, errno, "open_tree %s: %s", idm.lower,
			     strerror(errno));
		return;
	}
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

/* Parent, once the maps are written: map the clone through the child's user namespace.
 * Returns -1 after reporting ERROR (the caller kills the child). */
int idmap_apply(pid_t pid)
{
	if (idm.index < 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	int userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0) {
		char msg[MSG_MAX];
		snprintf(msg, sizeof(msg), "open %s: %s", path, strerror(errno));
		report_error(idm.index, "rootfsidmap", errno, msg);
		return -1;
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
	int go[2], ready[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return 2;
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(3);
		if (write(ready[1], "u", 1) != 1)
			_exit(3);
		/* wait until the parent is done (EOF) */
		char ch;
		while (read(go[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char path[64], ns[64], ch;
	snprintf(ns, sizeof(ns), "/proc/%d/ns/user", (int)pid);
	ssize_t n;
	do
		n = read(ready[0], &ch, 1);
	while (n < 0 && errno == EINTR);
	close(ready[0]);
	int result = n == 1 ? 0 : 2;
	if (result == 0) {
		const char *paths[2] = {"uid_map", "gid_map"};
		for (int i = 0; i < 2 && result == 0; i++) {
			snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, paths[i]);
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0 65534 1\n", 10) != 10)
				result = 2;
			if (fd >= 0)
				close(fd);
		}
	}
	if (result == 0) {
		int userns = open(ns, O_RDONLY | O_CLOEXEC);
		if (userns < 0) {
			result = 2;
		} else if (set_idmap(mnt, userns) < 0) {
			int e = errno;
			printf("IDMAP %s mount_setattr MOUNT_ATTR_IDMAP on %s: %s\n",
			       errno_name(e, eb, sizeof(eb)), dir, strerror(e));
		} else {
			printf("IDMAP ok\n");
		}
		if (userns >= 0)
			close(userns);
	}
	close(go[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(mnt);
	return result;
}
