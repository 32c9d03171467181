/*
 * igloo-helper: running the step records (steps.h), in plan order, each
 * through its op_<ID> function (ops.h).
 *
 * Everything here runs in the container's process (the clone()d child for
 * `start`, the process the middle one clones for `exec`), after the id maps
 * are written. A failing step reports through child_fail() (child.h).
 */
#include <errno.h>
#include <stddef.h>

#include "child.h"
#include "ops.h"
#include "steps.h"

#define STEP_ENTRY(id, name, nargs) [OP_##id] = op_##id,
#define NO_ENTRY(id, name, nargs)
static void (*const step_fn[OP_COUNT])(struct child_ctx *, char **) = {
	IGLOO_OPS(NO_ENTRY, STEP_ENTRY)};
#undef STEP_ENTRY
#undef NO_ENTRY

void run_step_range(struct child_ctx *c, size_t from, size_t to)
{
	const struct plan *p = c->plan;
	for (size_t i = from; i < to && i < p->nrecs; i++) {
		const struct record *r = &p->recs[i];
		c->cur = r;
		if (!step_fn[r->code]) /* a header record: plan.c never puts one here */
			child_fail(c, EINVAL, "unknown op '%s'", r->op);
		step_fn[r->code](c, r->argv);
	}
}

/* The order itself is the plan's: see PROTOCOL.md. */
void run_steps(struct child_ctx *c)
{
	run_step_range(c, c->plan->first_step, c->plan->nrecs);
	child_fail(c, EINVAL, "the plan does not end with exec");
}
