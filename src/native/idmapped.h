/*
 * An image shared through an idmapped mount under an overlay (the
 * `rootfsidmap` step), and `idmap-check` (idmapped.c).
 */
#ifndef IGLOO_IDMAPPED_H
#define IGLOO_IDMAPPED_H

#include <sys/types.h>

#include "child.h"
#include "plan.h"

void idmap_prepare(const struct plan *p); /* parent, before clone() */
int idmap_apply(pid_t pid);                /* parent, once the maps are written */
void idmap_open_layers(int err_w);         /* child, before setresuid(0) */
void op_rootfsidmap(struct child_ctx *c, char **a); /* the step */
int cmd_idmap_check(const char *dir);      /* igloo-helper idmap-check DIR */

#endif
