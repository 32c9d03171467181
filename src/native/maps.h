/*
 * Installing a new user namespace's uid and gid maps (maps.c).
 */
#ifndef IGLOO_MAPS_H
#define IGLOO_MAPS_H

#include <sys/types.h>

#include "plan.h"

/* Writes both maps of the plan (`idmap` records) for the namespace of PID,
 * or reports ERROR against the failing record, kills PID and exits 1. */
void install_idmaps(pid_t pid, const struct plan *p);

#endif
