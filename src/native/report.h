/*
 * The sync socket (fd 4) and what the helper reports on it: `ERROR`,
 * `READY`, `EXIT` lines (PROTOCOL.md, "Sync messages").
 *
 * An ERROR line that cannot be sent (fd 4 closed, or nobody reads it) goes
 * to the error sink: stderr unless the entry point set another one (the
 * `igloo` front hands the command to TypeScript instead, front.c).
 */
#ifndef IGLOO_REPORT_H
#define IGLOO_REPORT_H

#include <stddef.h>

#define SYNC_FD 4
#define MSG_MAX 1024 /* bound on one error message */

extern int sync_fd; /* SYNC_FD, or -1 once closed */
void sync_close(void); /* close fd 4 (never passed on to a child) */
void sync_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Called with an ERROR line (and its length, newline included) that no one
 * received. */
typedef void (*error_sink)(const char *line, size_t n);
void set_error_sink(error_sink sink);

void report_error(int index, const char *op, int err, const char *msg);
/* Report an error of the helper itself (not of a step in the child) and
 * exit 1. */
void fail(int index, const char *op, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

#endif
