/*
 * What the C library or the kernel headers of the build host may lack, in
 * one place: constants newer than musl or older kernel headers know, and the
 * system calls libc has no wrapper for (called through syscall(2)).
 */
#ifndef IGLOO_COMPAT_H
#define IGLOO_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
/* glibc's <sys/mount.h> has the new mount API (open_tree, fsopen,
 * mount_setattr); musl's has not: take its constants from the kernel's
 * headers. The calls themselves go through syscall(2) either way. */
#ifndef FSOPEN_CLOEXEC
#include <linux/mount.h>
#endif

/* a peer of a pty master, opened through the master (Linux 4.13) */
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* the user namespace of a pidfd's process (linux/pidfd.h, 6.11) */
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif

/* getxattrat(2) (6.13); the number is the same on every architecture */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif

static inline int sys_close_range(unsigned first, unsigned last, int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags,
				    struct mount_attr *attr, size_t size)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}

#endif
