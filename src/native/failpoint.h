/*
 * Failpoints (failpoint.c): IGLOO_FAILPOINT=NAME[,NAME...] names steps
 * where the process kills itself with SIGKILL, a real crash. The names are
 * listed in src/host/failpoint.ts (FAILPOINTS), with the TypeScript ones.
 */
#ifndef IGLOO_FAILPOINT_H
#define IGLOO_FAILPOINT_H

/* SIGKILLs the calling process if IGLOO_FAILPOINT names NAME. */
void failpoint(const char *name);

#endif
