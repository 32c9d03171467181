/*
 * igloo-helper's files, each with its own header. A file calls only files
 * listed below it (test/integration/native-tree.test.ts keeps it a tree):
 *
 *   main.c      main(): dispatches the modes (PROTOCOL.md, "Invocation")
 *   front.c     the `igloo` command's native front: prepared exec and run plans
 *   dirs.c      igloo's data and run directories (iglooDirs() of paths.ts)
 *   zygote.c    `zygote`: forks helpers for the library API
 *   restore.c   `restore`: criu restore, then the monitor
 *   xattrs.c    `xattrs set|copy-tree` and `shift`
 *   helper.c    run the plan on fd 3 as `start` or `exec` (this header)
 *   start.c     `start`: clone into new namespaces, maps, the child's steps
 *   exec.c      `exec`: join a container's namespaces through init's pidfd
 *   maps.c      writing the new user namespace's uid/gid maps
 *   sidecar.c   the container's sidecar (user-mode networking): started, restarted, stopped
 *   parent.c    the helper's side of its children (signals, error pipe, monitor)
 *   console.c   the pty relay (foreground/exec) and the detached monitor
 *   steps.c     running the step records, through the table of ops.h:
 *   process.c     the steps that shape the process, and exec
 *   mounts.c      the file-system steps, resolving paths beneath the root
 *   idmapped.c    `rootfsidmap` (an image under an overlay), idmap-check
 *   plan.c      reading and checking the plan
 *   oci.c       the OCI runtime's exec fifo, joins by path, console socket
 *   child.c     the container's process: its context, failing a step
 *   report.c    the sync socket (fd 4): ERROR lines, the error sink
 *   netlink.c   `netlink`: bridge mode's veth, address, route, nft elements
 *   util.c      errno/signal names, I/O loops, SCM_RIGHTS, numbers
 *   failpoint.c IGLOO_FAILPOINT: SIGKILL at a named step (crash tests)
 *   compat.h    what libc or the kernel headers may lack
 *
 * See PROTOCOL.md for the contract with the TypeScript side.
 */
#ifndef IGLOO_HELPER_H
#define IGLOO_HELPER_H

#include "plan.h"

/* Runs the plan on fd 3 as KIND (PLAN_ANY: as it says). PTY_FOR_INHERIT:
 * a `console inherit` plan gets a pty (the front's `run -t`). ARGV1, if
 * not NULL, is rewritten to say `start` or `exec` (as ps shows it). Returns
 * the exit code. */
int helper_run_plan(enum plan_kind kind, int pty_for_inherit, char *argv1);

#endif
