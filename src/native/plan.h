/*
 * The plan on fd 3, read and checked (plan.c): records split into op and
 * arguments, the header's settings pulled out. Nothing is executed here.
 */
#ifndef IGLOO_PLAN_H
#define IGLOO_PLAN_H

#include <stddef.h>
#include <sys/types.h>

#include "ops.h"

#define PLAN_FD 3
#define PLAN_MAX (1024 * 1024) /* bound on the plan size */
#define IDMAP_MAX_ENTRIES 340  /* the kernel's limit of lines in uid_map */
#define CGROUP_MAX 16          /* `cgroup` records: one per hierarchy */
#define JOINNS_MAX 8           /* `joinns` records: one per namespace kind */

enum mode { MODE_FOREGROUND, MODE_DETACHED, MODE_CREATED };
enum console { CONSOLE_INHERIT, CONSOLE_PTY, CONSOLE_NULL };
/* How to read a plan: as `start`, as `exec`, or as it says (exec if it has
 * a `join` record). */
enum plan_kind { PLAN_START, PLAN_EXEC, PLAN_ANY };

/* One record of the plan: op name and its arguments (pointers into the
 * plan buffer). index counts records from 0, headers included. */
struct record {
	int index;
	enum op code;
	const char *op;
	int argc;
	char **argv;
};

struct plan {
	char *buf;
	size_t len;
	char **strs;
	size_t nstrs;
	struct record *recs;
	size_t nrecs;
	size_t first_step; /* index into recs of the first step record */

	/* header */
	int ns_index; /* record index of `namespaces`, -1 if absent */
	unsigned long ns_flags;
	int join_index; /* record index of `join`, -1 if absent */
	pid_t join_pid;
	unsigned long long join_start; /* `joinstart`: its start time, 0 if absent */
	unsigned long join_flags;
	enum mode mode;
	enum console console;
	const char *rundir;
	int rundir_index;
	int exec_index; /* record index of the final exec */
	/* `idmap uid|gid N ...`: the helper installs the maps itself (no
	 * PID/MAPPED round trip); NULL when absent */
	const struct record *uidmap, *gidmap;
	/* `sidecar DIR ARGC ARG...` (sidecar.c), NULL when absent; its
	 * `sidecarcall` records are the headers with that code */
	const struct record *sidecar;
	int is_exec; /* a `join` plan, run by cmd_exec */
	/* `cgroup PATH`: the cgroup.procs files the container's process joins
	 * (child.c, cgroup_join_self) before it runs anything */
	const struct record *cgroups[CGROUP_MAX];
	int ncgroups;
	/* `consolelog DIR MAX`: the monitor's console log, NULL when absent */
	const char *consolelog;
	unsigned long long consolelog_max;
	int consolelog_index;
	/* `gate FIFO` (mode created): the exec fifo the helper makes; the
	 * container's process waits on it before exec (start.c) */
	const char *gate;
	int gate_index;
	/* `nomaps`: no idmap records and no PID/MAPPED exchange */
	int nomaps;
	/* `joinns KIND PATH`: namespaces joined by path before clone() */
	const struct record *joinns[JOINNS_MAX];
	int njoinns;
	unsigned long joinns_flags;
	/* `consolesocket PATH`: where the pty master goes (SCM_RIGHTS) */
	const char *consolesocket;
	int consolesocket_index;
};

/* Reads the plan from FD (and closes it); a bad plan is reported with
 * fail(). Returns -1 only for an empty PLAN_ANY plan. */
int plan_read(struct plan *p, int fd, enum plan_kind kind);
/* CLONE_NEW* of a namespace name, 0 if it is not one the plan may name. */
unsigned long ns_flag(const char *name);
/* The first step record with CODE, or NULL. */
const struct record *plan_find_step(const struct plan *p, enum op code);

#endif
