/*
 * Shared by the libFuzzer harnesses (scripts/fuzz-native.sh builds them with
 * ASan and UBSan, never into dist/): the helper's fail() reports and exits;
 * linked with -Wl,--wrap=fail, the code under test calls __wrap_fail
 * instead, which formats the message as fail() would (so a bad format
 * argument is caught too) and jumps back into the harness.
 */
#ifndef IGLOO_FUZZ_H
#define IGLOO_FUZZ_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#include "../plan.h"

extern jmp_buf fuzz_env;

/* Frees what plan_read() allocated, whether it finished or failed. */
void fuzz_plan_free(struct plan *p);
/* Reads every string of every record (ASan checks the pointers). */
void fuzz_plan_walk(const struct plan *p);
/* A memfd holding DATA, at offset 0, or -1. */
int fuzz_memfd(const void *data, size_t size);

#endif
