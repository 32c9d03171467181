/* `exec`: a process in a running container, from a plan (exec.c). */
#ifndef IGLOO_EXEC_H
#define IGLOO_EXEC_H

#include "plan.h"

int cmd_exec(struct plan p);

#endif
