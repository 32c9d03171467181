/*
 * Failpoints: see failpoint.h. The variable is read once per process (a
 * forked child inherits what its parent read); unset, a failpoint costs a
 * comparison.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"

static const char *armed; /* NULL: not read yet; "": none */

void failpoint(const char *name)
{
	if (!armed) {
		const char *v = getenv("IGLOO_FAILPOINT");
		armed = v ? v : "";
	}
	if (!*armed)
		return;
	size_t n = strlen(name);
	for (const char *p = armed; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			(void)kill(getpid(), SIGKILL);
		if (!end)
			break;
		p = end + 1;
	}
}
