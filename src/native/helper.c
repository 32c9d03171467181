/*
 * igloo-helper: run the plan on fd 3 as `start` or `exec` (helper.h). The
 * entry of main.c (start, exec), front.c (prepared plans) and zygote.c (a
 * plan from the library API).
 */
#include <string.h>

#include "exec.h"
#include "helper.h"
#include "start.h"

int helper_run_plan(enum plan_kind kind, int pty_for_inherit, char *argv1)
{
	struct plan p;
	if (plan_read(&p, PLAN_FD, kind) < 0)
		return 0;
	if (pty_for_inherit && p.console == CONSOLE_INHERIT)
		p.console = CONSOLE_PTY;
	/* A helper forked by the zygote: its command line now says
	 * start or exec, as ps shows it for the monitor's whole life (the
	 * words fit in the same bytes). */
	if (argv1)
		strncpy(argv1, p.is_exec ? "exec" : "start", strlen(argv1));
	return p.is_exec ? cmd_exec(p) : cmd_start(p);
}
