/*
 * What the OCI runtime (`igloo oci`, igloo-runc) adds to `start` and `exec`
 * (oci.c; PROTOCOL.md `gate`, `nomaps`, `joinns`, `consolesocket`, `umask`):
 *
 *   - the exec fifo (`gate`): made and opened by the helper before clone(),
 *     on the host; the container's process holds it (opened read-write, so
 *     neither side blocks on open) and, with every step done, reads one
 *     byte from it before exec. `igloo oci start` writes that byte. The
 *     container never sees the fifo's path: it lives in the runtime's state
 *     directory, and the process holds it by descriptor only;
 *   - namespaces joined by path (`joinns`), type checked with NS_GET_NSTYPE;
 *   - the console socket: the pty master sent to the engine by SCM_RIGHTS
 *     with the pty's name as payload.
 */
#ifndef IGLOO_OCI_H
#define IGLOO_OCI_H

#include "child.h"
#include "plan.h"

/* Helper side, before clone(): mkfifo P's gate (0600, not there before) and
 * open it read-write; -1 when P has no gate. Failures are reported. */
int gate_open(const struct plan *p);
/* Helper side, before any join: connect P's console socket (as the caller,
 * on the host); -1 when P has none. Failures are reported. */
int console_socket_connect(const struct plan *p);
/* Sends MASTER on SOCK with the pty's name ("/dev/pts/N") as payload, then
 * closes SOCK. Failures are reported against the consolesocket record. */
void console_socket_send(const struct plan *p, int sock, int master);
/* Helper side, before clone(): opens every `joinns` path, checks its type
 * and joins it (user first). Failures are reported. */
void joinns_enter(const struct plan *p);
/* Child side, in the exec step of a `mode created` plan: checks that FILE
 * can be executed (so a missing program fails create, not start), tells
 * the helper that everything is done (a step_error of index -1 on the
 * error pipe, which is then closed) and waits for start's byte on the
 * gate. Returns once released. */
void gate_wait(struct child_ctx *c, const char *file, const char *path);

/* The step_error index that means "waiting at the gate" (not an error). */
#define GATE_REACHED (-1)

#endif
