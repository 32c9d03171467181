/*
 * The container's sidecar (sidecar.c): a host process that belongs to the
 * container's life, such as user-mode networking (slirp4netns). The plan
 * names it (`sidecar`, `sidecarcall`; PROTOCOL.md, "Sidecar").
 */
#ifndef IGLOO_SIDECAR_H
#define IGLOO_SIDECAR_H

#include <sys/types.h>

#include "plan.h"

/* With a `sidecar` record: forks the sidecar's supervisor for the child
 * INIT (whose maps are written, and who waits for MAPPED), which opens
 * INIT's namespaces, starts the sidecar, waits until it is ready and has
 * answered its calls, then keeps it running until INIT exits. Returns the
 * supervisor's pid once the sidecar is ready, 0 without a `sidecar` record,
 * or -1 after reporting the ERROR (the caller kills INIT and exits 1). */
pid_t sidecar_launch(const struct plan *p, pid_t init);

#endif
