/*
 * igloo's data and run directories, as iglooDirs() of
 * src/lifecycle/paths.ts finds them (dirs.c); `igloo-helper dirs` prints
 * them, so a test holds the two to the same answer.
 */
#ifndef IGLOO_DIRS_H
#define IGLOO_DIRS_H

#include <stddef.h>

/* DATA and RUN, N bytes each, from IGLOO_DATA_DIR and IGLOO_RUN_DIR, the
 * effective uid, HOME and XDG_{DATA_HOME,RUNTIME_DIR,CACHE_HOME}. */
void igloo_dirs(char *data, char *run, size_t n);
int cmd_dirs(void); /* igloo-helper dirs */

#endif
