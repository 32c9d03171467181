/*
 * Resolving paths beneath the container's root, for the steps (mounts.c);
 * the file-system steps themselves are declared in steps.h.
 */
#ifndef IGLOO_MOUNTS_H
#define IGLOO_MOUNTS_H

#include <stddef.h>
#include <sys/types.h>

#include "child.h"

/* Open PATH as an O_PATH fd beneath the rootfs (or the current root when
 * there is no rootfs step, e.g. for exec), never following magic links. */
int resolve(struct child_ctx *c, const char *path, int flags);

/* "/proc/self/fd/FD": a mount source or target that is exactly FD. */
void fd_path(char *buf, size_t n, int fd);
/* Fails the current step unless C has a mount namespace of its own. */
void need_mntns(struct child_ctx *c);

#endif
