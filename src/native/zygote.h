/* `zygote`: forks helpers for a long-lived Node process (zygote.c). */
#ifndef IGLOO_ZYGOTE_H
#define IGLOO_ZYGOTE_H

int cmd_zygote(char *argv1);

#endif
