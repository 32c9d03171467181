/*
 * Waiting for the container's process (console.c): the foreground relay
 * and the detached monitor.
 */
#ifndef IGLOO_CONSOLE_H
#define IGLOO_CONSOLE_H

#include <sys/types.h>

struct fg_state {
	pid_t child;   /* the process we wait for */
	int master;    /* pty master or -1 */
	int sigfd;     /* signalfd */
};
int run_foreground(struct fg_state *st); /* returns the wait status */
void run_monitor(pid_t init, int master, int sigfd, int rundirfd, int listenfd)
	__attribute__((noreturn));
int console_listen(int rundirfd);
/* Writes RUNDIR/init, "INIT MONITOR\n" (the monitor is the caller), before
 * READY: if Node dies before it records the start, the next igloo command
 * still finds init (src/lifecycle/store.ts liveState). */
void write_init_file(int rundirfd, pid_t init);
/* The monitor keeps the console's output in DIR/console.log (at most
 * 2 x MAX bytes: console.log and console.log.1). Opened before clone();
 * -1 with errno when DIR or the file is unsafe (EPERM, ELOOP) or missing. */
int console_log_open(const char *dir, unsigned long long max);

#endif
