/*
 * The helper's side of its children (start, exec, restore): the signals it
 * handles on a signalfd, its pipes, killing and reaping a child, reading
 * the error pipe, and detaching as a container's monitor.
 */
#ifndef IGLOO_PARENT_H
#define IGLOO_PARENT_H

#include <sys/types.h>

/* Blocks the signals the helper handles (before any child exists, so none
 * is lost) and returns a signalfd for them; SIGPIPE is ignored. */
int sigfd_setup(void);
void pipe_cloexec(int p[2]);
void killwait(pid_t pid);
/* Waits for the exec: EOF on the error pipe ERR_R is success; a step_error
 * is reported as ERROR and the helper exits 1 (after killing PID, if > 0). */
void wait_exec(int err_r, pid_t pid);
/* The pty master the container's process sends on SOCK (which is closed);
 * if none comes, PID is killed and the error reported against EXEC_INDEX. */
int receive_pty_master(int sock, pid_t pid, int exec_index);
/* Foreground: waits for PID (relaying MASTER if >= 0, forwarding the
 * signals of SIGFD), sends `EXIT <status>`; returns the exit code. */
int wait_foreground(pid_t pid, int master, int sigfd);
/* After READY: no tie to Node (fd 4), to a terminal (stdio to NULLFD, which
 * is closed, a session of its own) or to a directory any more. */
void detach_as_monitor(int nullfd);

#endif
