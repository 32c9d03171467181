/* `start`: a container (or a plain user namespace) from a plan (start.c). */
#ifndef IGLOO_START_H
#define IGLOO_START_H

#include "plan.h"

int cmd_start(struct plan p);

#endif
