/*
 * libFuzzer harness: the helper's plan reader (plan.c, plan_read), as
 * `igloo-helper start`, `exec` and the native front read a plan from fd 3.
 * The first byte picks the kind; the rest is the plan.
 */
#include <stdint.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > PLAN_MAX)
		return 0;
	static const enum plan_kind kinds[] = {PLAN_START, PLAN_EXEC, PLAN_ANY};
	enum plan_kind kind = kinds[data[0] % 3];
	int fd = fuzz_memfd(data + 1, size - 1);
	if (fd < 0)
		return 0;
	struct plan p;
	if (setjmp(fuzz_env) == 0) {
		/* plan_read closes fd once it has read it */
		if (plan_read(&p, fd, kind) == 0) {
			fuzz_plan_walk(&p);
			for (int op = 0; op < OP_COUNT; op++)
				(void)plan_find_step(&p, (enum op)op);
		}
	}
	fuzz_plan_free(&p);
	return 0;
}
