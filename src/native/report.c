/*
 * igloo-helper: the sync socket and the ERROR lines (report.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "util.h"

int sync_fd = SYNC_FD;

/* Nobody listens on fd 4: say it on stderr at least. */
static void to_stderr(const char *line, size_t n)
{
	(void)!write(2, line, n);
}

static error_sink unsent_error = to_stderr;

void set_error_sink(error_sink sink)
{
	unsent_error = sink;
}

void sync_close(void)
{
	if (sync_fd >= 0)
		close(sync_fd);
	sync_fd = -1;
}

/* Write one line on the sync socket. EPIPE (Node went away) is ignored:
 * SIGPIPE is ignored in the helper. */
void sync_send(const char *fmt, ...)
{
	char line[MSG_MAX + 128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n] = '\0';
	sanitize_line(line);
	line[n++] = '\n';
	if ((sync_fd < 0 || write_all(sync_fd, line, (size_t)n) < 0) &&
	    strncmp(line, "ERROR ", 6) == 0)
		unsent_error(line, (size_t)n);
}

void report_error(int index, const char *op, int err, const char *msg)
{
	char eb[16];
	char m[MSG_MAX];
	snprintf(m, sizeof(m), "%s", msg);
	sanitize_line(m);
	sync_send("ERROR %d %s %s %s", index, op, errno_name(err, eb, sizeof(eb)), m);
}

void fail(int index, const char *op, int err, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_error(index, op, err, msg);
	exit(1);
}
