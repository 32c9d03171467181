/*
 * The step records, run in the container's process (steps.c dispatches
 * them through the table of ops.h). Each step is op_<ID>(context, its
 * arguments): mounts.c has the file-system steps, process.c those that
 * shape the process (ids, capabilities, seccomp, console, exec),
 * idmapped.c `rootfsidmap`.
 */
#ifndef IGLOO_STEPS_H
#define IGLOO_STEPS_H

#include <stddef.h>

#include "child.h"
#include "ops.h"

#define STEP_FN(id, name, nargs) void op_##id(struct child_ctx *c, char **a);
#define NO_FN(id, name, nargs)
IGLOO_OPS(NO_FN, STEP_FN)
#undef STEP_FN
#undef NO_FN

/* Run the step records FROM..TO-1 in plan order. */
void run_step_range(struct child_ctx *c, size_t from, size_t to);
/* Run every step; `exec` (always last, see plan.c) does not return. */
void run_steps(struct child_ctx *c) __attribute__((noreturn));

#endif
