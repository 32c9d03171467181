/*
 * igloo-helper's own tree (each .c has its header; nothing calls back up):
 *
 *   main.c      main(): dispatches the modes (PROTOCOL.md, "Invocation")
 *   front.c     the `igloo` command's native front: prepared exec and run plans
 *   dirs.c      igloo's data and run directories (iglooDirs() of paths.ts)
 *   zygote.c    `zygote`: forks helpers for the library API
 *   restore.c   `restore`: criu restore, then the monitor
 *   xattrs.c    `xattrs set|copy-tree` and `shift`
 *   helper.c    run the plan on fd 3 as `start` or `exec`
 *   start.c     `start`: clone into new namespaces, maps, the child's steps
 *   exec.c      `exec`: join a container's namespaces through init's pidfd
 *   parent.c    the helper's side of its children (signals, error pipe, monitor)
 *   plan.c      reading and checking the plan (ops.h: the table of records)
 *   maps.c      writing the new user namespace's uid/gid maps
 *   steps.c     running the step records (mounts.c, process.c, idmapped.c)
 *   idmapped.c  the `rootfsidmap` step (an image under an overlay), idmap-check
 *   console.c   the pty relay (foreground/exec) and the detached monitor
 *   child.c     the container's process: its context, failing a step
 *   report.c    the sync socket (fd 4): ERROR lines, the error sink
 *   util.c      errno/signal names, I/O loops, SCM_RIGHTS, numbers
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
