/*
 * igloo-helper: reading the plan.
 *
 * The plan is a bounded sequence of NUL-terminated strings on fd 3. We read
 * it whole, split it into strings, then into records (the op name fixes the
 * number of arguments, except for `idmap`, `ids` and `exec` which carry
 * counts), and
 * check the header. Every problem is reported as
 *   ERROR <index> <op> EINVAL <what>
 * against the record concerned; problems with the plan as a whole are
 * reported against record 0 (`igloo-plan`). Nothing is executed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include "plan.h"
#include "report.h"
#include "util.h"

enum kind { HEADER, STEP };

#define HEADER_SPEC(id, name, nargs) [OP_##id] = {name, nargs, HEADER},
#define STEP_SPEC(id, name, nargs) [OP_##id] = {name, nargs, STEP},
static const struct {
	const char *name;
	int nargs; /* -1: counted (idmap, ids, exec) */
	enum kind kind;
} ops[OP_COUNT] = {IGLOO_OPS(HEADER_SPEC, STEP_SPEC)};
#undef HEADER_SPEC
#undef STEP_SPEC

/* The namespaces TypeScript may name (NamespaceKind in
 * src/core/config/model.ts): no `time`, which it never sends. */
static const struct {
	const char *name;
	unsigned long flag;
} namespaces[] = {
	{"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID},
	{"mnt", CLONE_NEWNS},    {"uts", CLONE_NEWUTS},
	{"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},
	{"cgroup", CLONE_NEWCGROUP},
};

unsigned long ns_flag(const char *name)
{
	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
		if (strcmp(namespaces[i].name, name) == 0)
			return namespaces[i].flag;
	return 0;
}

/* "user,pid,mnt" -> CLONE_* bits; an empty list is no namespace. */
static int parse_ns_list(const char *list, unsigned long *flags)
{
	char buf[256];
	*flags = 0;
	if (strlen(list) >= sizeof(buf))
		return -1;
	strcpy(buf, list);
	if (!buf[0])
		return 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long f = ns_flag(t);
		if (!f)
			return -1;
		*flags |= f;
	}
	return 0;
}

static void read_all(struct plan *p, int fd, int empty_ok)
{
	size_t cap = 64 * 1024;
	p->buf = malloc(cap + 1);
	if (!p->buf)
		fail(0, "igloo-plan", ENOMEM, "reading the plan: out of memory");
	p->len = 0;
	for (;;) {
		if (p->len == cap) {
			if (cap >= PLAN_MAX)
				fail(0, "igloo-plan", E2BIG,
				     "plan is larger than %d bytes", PLAN_MAX);
			cap *= 2;
			char *nb = realloc(p->buf, cap + 1);
			if (!nb)
				fail(0, "igloo-plan", ENOMEM,
				     "reading the plan: out of memory");
			p->buf = nb;
		}
		ssize_t r = read(fd, p->buf + p->len, cap - p->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail(0, "igloo-plan", errno, "read plan from fd %d: %s", fd,
			     strerror(errno));
		}
		if (r == 0)
			break;
		p->len += (size_t)r;
		if (p->len > PLAN_MAX)
			fail(0, "igloo-plan", E2BIG, "plan is larger than %d bytes",
			     PLAN_MAX);
	}
	if (close(fd) < 0)
		fail(0, "igloo-plan", errno, "close plan fd: %s", strerror(errno));
	if (p->len == 0 && empty_ok)
		return;
	if (p->len == 0)
		fail(0, "igloo-plan", EINVAL, "empty plan");
	if (p->buf[p->len - 1] != '\0')
		fail(0, "igloo-plan", EINVAL, "plan does not end with a NUL");
}

static void split_strings(struct plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->len; i++)
		if (p->buf[i] == '\0')
			n++;
	p->strs = calloc(n + 1, sizeof(char *));
	/* at most one record per string */
	p->recs = calloc(n + 1, sizeof(struct record));
	if (!p->strs || !p->recs)
		fail(0, "igloo-plan", ENOMEM, "splitting the plan: out of memory");
	size_t k = 0;
	char *s = p->buf;
	for (size_t i = 0; i < p->len; i++) {
		if (p->buf[i] == '\0') {
			p->strs[k++] = s;
			s = p->buf + i + 1;
		}
	}
	p->nstrs = n;
}

/* A count argument (`ids N`, `exec ARGC`, `exec ENVC`). */
static size_t count_at(struct plan *p, size_t pos, int index, const char *op,
		       const char *what)
{
	unsigned long v;
	if (pos >= p->nstrs)
		fail(index, op, EINVAL, "record %s is truncated (missing %s)", op,
		     what);
	if (parse_ulong(p->strs[pos], 10, &v) < 0 || v > p->nstrs)
		fail(index, op, EINVAL, "bad %s '%s'", what, p->strs[pos]);
	return (size_t)v;
}

static void split_records(struct plan *p)
{
	size_t pos = 0;
	int index = 0;
	int seen_step = 0;
	while (pos < p->nstrs) {
		const char *op = p->strs[pos];
		int k = -1;
		for (int i = 0; i < OP_COUNT; i++)
			if (strcmp(ops[i].name, op) == 0)
				k = i;
		if (k < 0)
			fail(index, op[0] ? op : "?", EINVAL, "unknown op '%s'", op);
		size_t nargs;
		if (ops[k].nargs >= 0) {
			nargs = (size_t)ops[k].nargs;
		} else if (k == OP_idmap) {
			/* uid|gid N, then N times INSIDE OUTSIDE COUNT */
			size_t n = count_at(p, pos + 2, index, op, "entry count");
			if (n == 0 || n > IDMAP_MAX_ENTRIES)
				fail(index, op, EINVAL, "an id map has 1 to %d entries, not %zu",
				     IDMAP_MAX_ENTRIES, n);
			nargs = 2 + 3 * n;
		} else if (k == OP_sidecar) {
			/* DIR ARGC ARG... */
			size_t argc = count_at(p, pos + 2, index, op, "ARGC");
			if (argc == 0)
				fail(index, op, EINVAL, "a sidecar needs a command");
			nargs = 2 + argc;
		} else if (k == OP_ids) {
			/* UID GID N G1..GN */
			nargs = 3 + count_at(p, pos + 3, index, op, "group count");
		} else {
			/* FILE ARGC ARG... ENVC ENV... */
			size_t argc = count_at(p, pos + 2, index, op, "ARGC");
			size_t envc = count_at(p, pos + 3 + argc, index, op, "ENVC");
			nargs = 3 + argc + envc;
		}
		if (pos + 1 + nargs > p->nstrs)
			fail(index, op, EINVAL, "record %s is truncated", op);
		if (ops[k].kind == HEADER && seen_step)
			fail(index, op, EINVAL, "header record %s after a step", op);
		if (ops[k].kind == STEP && !seen_step) {
			seen_step = 1;
			p->first_step = p->nrecs;
		}
		struct record *r = &p->recs[p->nrecs++];
		r->index = index++;
		r->code = (enum op)k;
		r->op = op;
		r->argc = (int)nargs;
		r->argv = &p->strs[pos + 1];
		pos += 1 + nargs;
	}
	if (!seen_step)
		p->first_step = p->nrecs;
}

static void check_header(struct plan *p, int is_exec)
{
	if (p->nrecs == 0 || p->recs[0].code != OP_igloo_plan)
		fail(0, p->nrecs ? p->recs[0].op : "igloo-plan", EINVAL,
		     "the plan does not start with igloo-plan");
	if (strcmp(p->recs[0].argv[0], "1") != 0)
		fail(0, "igloo-plan", EINVAL, "unsupported plan version '%s'",
		     p->recs[0].argv[0]);
	p->ns_index = -1;
	p->join_index = -1;
	p->mode = MODE_FOREGROUND;
	p->console = CONSOLE_INHERIT;
	p->rundir = NULL;
	p->uidmap = p->gidmap = NULL;
	for (size_t i = 1; i < p->first_step; i++) {
		struct record *r = &p->recs[i];
		const char *a = r->argv[0];
		if (r->code == OP_namespaces) {
			if (is_exec)
				fail(r->index, r->op, EINVAL,
				     "namespaces is for start; exec uses join");
			if (parse_ns_list(a, &p->ns_flags) < 0)
				fail(r->index, r->op, EINVAL, "bad namespace list '%s'", a);
			p->ns_index = r->index;
		} else if (r->code == OP_join) {
			unsigned long pid;
			if (!is_exec)
				fail(r->index, r->op, EINVAL, "join is for exec");
			if (parse_ulong(a, 10, &pid) < 0 || pid < 1 || pid > 0x3fffffff)
				fail(r->index, r->op, EINVAL, "bad pid '%s'", a);
			if (parse_ns_list(r->argv[1], &p->join_flags) < 0)
				fail(r->index, r->op, EINVAL, "bad namespace list '%s'",
				     r->argv[1]);
			p->join_pid = (pid_t)pid;
			p->join_index = r->index;
		} else if (r->code == OP_joinstart) {
			unsigned long long t;
			char *end;
			errno = 0;
			t = strtoull(a, &end, 10);
			if (!is_exec || errno || end == a || *end || t == 0)
				fail(r->index, r->op, EINVAL, "bad start time '%s'", a);
			p->join_start = t;
		} else if (r->code == OP_mode) {
			if (strcmp(a, "foreground") == 0)
				p->mode = MODE_FOREGROUND;
			else if (strcmp(a, "detached") == 0)
				p->mode = MODE_DETACHED;
			else if (strcmp(a, "created") == 0 && !is_exec)
				p->mode = MODE_CREATED;
			else
				fail(r->index, r->op, EINVAL, "bad mode '%s'", a);
		} else if (r->code == OP_console) {
			if (strcmp(a, "inherit") == 0)
				p->console = CONSOLE_INHERIT;
			else if (strcmp(a, "pty") == 0)
				p->console = CONSOLE_PTY;
			else if (strcmp(a, "null") == 0)
				p->console = CONSOLE_NULL;
			else
				fail(r->index, r->op, EINVAL, "bad console '%s'", a);
		} else if (r->code == OP_idmap) {
			const struct record **slot = strcmp(a, "uid") == 0   ? &p->uidmap
						     : strcmp(a, "gid") == 0 ? &p->gidmap
									     : NULL;
			if (!slot)
				fail(r->index, r->op, EINVAL, "bad id kind '%s' (uid or gid)", a);
			if (*slot)
				fail(r->index, r->op, EINVAL, "a second %s map", a);
			for (int k = 2; k < r->argc; k++) {
				unsigned long v;
				if (parse_ulong(r->argv[k], 10, &v) < 0 || v > 0xffffffffUL)
					fail(r->index, r->op, EINVAL, "bad number '%s'",
					     r->argv[k]);
			}
			*slot = r;
		} else if (r->code == OP_cgroup) {
			size_t n = strlen(a);
			const char *tail = "/cgroup.procs";
			if (a[0] != '/' || n <= strlen(tail) ||
			    strcmp(a + n - strlen(tail), tail) != 0 || strstr(a, "/../"))
				fail(r->index, r->op, EINVAL,
				     "bad cgroup '%s' (an absolute path of a cgroup.procs file)", a);
			if (p->ncgroups >= CGROUP_MAX)
				fail(r->index, r->op, EINVAL, "more than %d cgroup records",
				     CGROUP_MAX);
			p->cgroups[p->ncgroups++] = r;
		} else if (r->code == OP_sidecar) {
			if (is_exec || p->sidecar)
				fail(r->index, r->op, EINVAL,
				     "one sidecar, for start only");
			if (a[0] != '/' || r->argv[2][0] != '/')
				fail(r->index, r->op, EINVAL,
				     "a sidecar's directory and command are absolute paths");
			p->sidecar = r;
		} else if (r->code == OP_sidecarcall) {
			if (a[0] != '/')
				fail(r->index, r->op, EINVAL, "bad socket path '%s'", a);
		} else if (r->code == OP_rundir) {
			if (a[0] == '\0')
				fail(r->index, r->op, EINVAL, "empty rundir");
			p->rundir = a;
			p->rundir_index = r->index;
		} else if (r->code == OP_consolelog) {
			unsigned long long max;
			char *end;
			errno = 0;
			max = strtoull(r->argv[1], &end, 10);
			if (is_exec || a[0] != '/' || errno || end == r->argv[1] || *end ||
			    max < 4096)
				fail(r->index, r->op, EINVAL,
				     "bad consolelog '%s' '%s' (start only: an absolute DIR and MAX >= 4096)",
				     a, r->argv[1]);
			p->consolelog = a;
			p->consolelog_max = max;
			p->consolelog_index = r->index;
		} else if (r->code == OP_gate) {
			if (is_exec || a[0] != '/')
				fail(r->index, r->op, EINVAL,
				     "bad gate '%s' (start only: an absolute path)", a);
			p->gate = a;
			p->gate_index = r->index;
		} else if (r->code == OP_nomaps) {
			if (is_exec)
				fail(r->index, r->op, EINVAL, "nomaps is for start");
			p->nomaps = 1;
		} else if (r->code == OP_joinns) {
			unsigned long f = ns_flag(a);
			if (is_exec || !f || r->argv[1][0] != '/')
				fail(r->index, r->op, EINVAL,
				     "bad joinns '%s' '%s' (start only: a namespace name and an absolute path)",
				     a, r->argv[1]);
			if ((p->joinns_flags & f) || p->njoinns >= JOINNS_MAX)
				fail(r->index, r->op, EINVAL, "a second joinns %s", a);
			p->joinns[p->njoinns++] = r;
			p->joinns_flags |= f;
		} else if (r->code == OP_consolesocket) {
			if (a[0] != '/')
				fail(r->index, r->op, EINVAL,
				     "bad console socket '%s' (an absolute path)", a);
			p->consolesocket = a;
			p->consolesocket_index = r->index;
		} else {
			fail(r->index, r->op, EINVAL, "%s is not a header record",
			     r->op);
		}
	}
	for (size_t i = 1; i < p->first_step; i++)
		if (p->recs[i].code == OP_sidecarcall && !p->sidecar)
			fail(p->recs[i].index, "sidecarcall", EINVAL,
			     "sidecarcall needs a sidecar record");
	if (p->sidecar && !(p->uidmap || p->gidmap))
		fail(p->sidecar->index, "sidecar", EINVAL,
		     "a sidecar needs the plan's idmap records (it starts before MAPPED)");
	if ((p->uidmap || p->gidmap) && (is_exec || !(p->ns_flags & CLONE_NEWUSER)))
		fail((p->uidmap ? p->uidmap : p->gidmap)->index, "idmap", EINVAL,
		     "idmap needs a new user namespace (start with namespaces user)");
	if (is_exec && p->join_index < 0)
		fail(0, "igloo-plan", EINVAL, "exec needs a join record");
	if (is_exec && p->mode == MODE_CREATED)
		fail(0, "igloo-plan", EINVAL, "exec supports modes foreground and detached");
	if ((p->mode == MODE_CREATED) != (p->gate != NULL))
		fail(p->gate ? p->gate_index : 0, p->gate ? "gate" : "igloo-plan", EINVAL,
		     "mode created and a gate record go together");
	if (p->ns_flags & p->joinns_flags)
		fail(p->joinns[0]->index, "joinns", EINVAL,
		     "a namespace is both created and joined");
	if (p->nomaps && (p->uidmap || p->gidmap || p->sidecar ||
			  (p->ns_flags & CLONE_NEWUSER)))
		fail(0, "igloo-plan", EINVAL,
		     "nomaps goes with no idmap, no sidecar and no new user namespace");
	if (p->consolesocket && p->console != CONSOLE_PTY)
		fail(p->consolesocket_index, "consolesocket", EINVAL,
		     "a console socket needs console pty");
	if (!is_exec && p->mode == MODE_DETACHED && !p->rundir)
		fail(0, "igloo-plan", EINVAL, "mode detached needs a rundir record");
	/* The steps must end with exec, and exec must be the last one: the
	 * child has nothing else to become. */
	if (p->nrecs == p->first_step ||
	    p->recs[p->nrecs - 1].code != OP_exec)
		fail(0, "igloo-plan", EINVAL, "the plan does not end with exec");
	p->exec_index = p->recs[p->nrecs - 1].index;
	for (size_t i = p->first_step; i + 1 < p->nrecs; i++)
		if (p->recs[i].code == OP_exec)
			fail(p->recs[i].index, "exec", EINVAL,
			     "exec must be the last record");
}

int plan_read(struct plan *p, int fd, enum plan_kind kind)
{
	int is_exec = kind == PLAN_EXEC;
	memset(p, 0, sizeof(*p));
	read_all(p, fd, kind == PLAN_ANY);
	if (kind == PLAN_ANY && p->len == 0)
		return -1; /* an empty plan: nothing to run */
	split_strings(p);
	split_records(p);
	if (kind == PLAN_ANY)
		for (size_t i = 0; i < p->first_step; i++)
			if (p->recs[i].code == OP_join)
				is_exec = 1;
	p->is_exec = is_exec;
	check_header(p, is_exec);
	return 0;
}

const struct record *plan_find_step(const struct plan *p, enum op code)
{
	for (size_t i = p->first_step; i < p->nrecs; i++)
		if (p->recs[i].code == code)
			return &p->recs[i];
	return NULL;
}
