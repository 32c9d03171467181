/*
 * Every record of a plan, in one table (PROTOCOL.md, "Plan encoding"):
 * plan.c reads it for the number of arguments and whether the record is a
 * header or a step, steps.c for the function that runs a step
 * (op_<ID>, declared in steps.h). NARGS -1: the record carries counts
 * (idmap, sidecar, ids, exec; plan.c reads them).
 *
 *   HEADER(ID, NAME, NARGS)   a global setting, before the first step
 *   STEP(ID, NAME, NARGS)     run in order in the container's process
 */
#ifndef IGLOO_OPS_H
#define IGLOO_OPS_H

#define IGLOO_OPS(HEADER, STEP)                  \
	HEADER(igloo_plan, "igloo-plan", 1)      \
	HEADER(namespaces, "namespaces", 1)      \
	HEADER(join, "join", 2)                  \
	HEADER(joinstart, "joinstart", 1)        \
	HEADER(mode, "mode", 1)                  \
	HEADER(console, "console", 1)            \
	HEADER(rundir, "rundir", 1)              \
	HEADER(idmap, "idmap", -1)               \
	HEADER(sidecar, "sidecar", -1)           \
	HEADER(sidecarcall, "sidecarcall", 2)    \
	HEADER(consolelog, "consolelog", 2)      \
	HEADER(cgroup, "cgroup", 1)              \
	HEADER(gate, "gate", 1)                  \
	HEADER(nomaps, "nomaps", 0)              \
	HEADER(joinns, "joinns", 2)              \
	HEADER(consolesocket, "consolesocket", 1) \
	STEP(rootfs, "rootfs", 1)                \
	STEP(rootfstmpfs, "rootfstmpfs", 1)      \
	STEP(rootfsidmap, "rootfsidmap", 3)      \
	STEP(mount, "mount", 5)                  \
	STEP(bind, "bind", 3)                    \
	STEP(mkdir, "mkdir", 2)                  \
	STEP(symlink, "symlink", 2)              \
	STEP(writefile, "writefile", 3)          \
	STEP(pivot, "pivot", 0)                  \
	STEP(devconsole, "devconsole", 0)        \
	STEP(hostname, "hostname", 1)            \
	STEP(loopback, "loopback", 0)            \
	STEP(chdir, "chdir", 1)                  \
	STEP(workdir, "workdir", 1)              \
	STEP(rlimit, "rlimit", 3)                \
	STEP(mask, "mask", 1)                    \
	STEP(readonly, "readonly", 1)            \
	STEP(caps, "caps", 1)                    \
	STEP(nnp, "nnp", 0)                      \
	STEP(ids, "ids", -1)                     \
	STEP(seccomp, "seccomp", 1)              \
	STEP(umask, "umask", 1)                  \
	STEP(exec, "exec", -1)

#define OP_ENUM(id, name, nargs) OP_##id,
enum op { IGLOO_OPS(OP_ENUM, OP_ENUM) OP_COUNT };
#undef OP_ENUM

#endif
