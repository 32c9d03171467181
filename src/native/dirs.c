/*
 * igloo-helper: igloo's data and run directories (dirs.h), found as
 * iglooDirs() of src/lifecycle/paths.ts finds them, path.join() included.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirs.h"

/* Node's path.posix.join(PARTS...) into OUT: the non-empty parts joined
 * with '/', then normalized (no empty or `.` segment, `..` taken back
 * lexically, no trailing '/' as the last part never has one here). */
static void join_path(char *out, size_t n, const char *const *parts)
{
	char joined[PATH_MAX * 2];
	size_t len = 0;
	for (; *parts; parts++) {
		if (!**parts)
			continue;
		int w = snprintf(joined + len, sizeof(joined) - len, "%s%s", len ? "/" : "", *parts);
		if (w < 0 || (size_t)w >= sizeof(joined) - len)
			break;
		len += (size_t)w;
	}
	joined[len] = '\0';
	int absolute = joined[0] == '/';
	size_t used = 0, depth = 0; /* depth: segments we may take back with `..` */
	for (char *save = NULL, *seg = strtok_r(joined, "/", &save); seg;
	     seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0 && depth > 0) {
			char *slash = memrchr(out, '/', used);
			used = slash ? (size_t)(slash - out) : 0;
			depth--;
			continue;
		}
		if (strcmp(seg, "..") == 0 && absolute)
			continue; /* nothing above the root */
		int w = snprintf(out + used, n - used, "%s%s", used || absolute ? "/" : "", seg);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
		if (strcmp(seg, "..") != 0)
			depth++;
	}
	if (used == 0)
		snprintf(out, n, "%s", absolute ? "/" : ".");
	else
		out[used] = '\0';
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

void igloo_dirs(char *data, char *run, size_t n)
{
	const char *d = getenv("IGLOO_DATA_DIR"), *r = getenv("IGLOO_RUN_DIR");
	if (d && *d && r && *r) {
		snprintf(data, n, "%s", d);
		snprintf(run, n, "%s", r);
		return;
	}
	if (geteuid() == 0) {
		snprintf(data, n, "/var/lib/igloo");
		snprintf(run, n, "/run/igloo");
		return;
	}
	const char *home = getenv("HOME");
	if (!home)
		home = "/"; /* an empty HOME stays empty, as in paths.ts */
	const char *xdg_data = env_or("XDG_DATA_HOME", NULL);
	const char *xdg_run = env_or("XDG_RUNTIME_DIR", NULL);
	const char *xdg_cache = env_or("XDG_CACHE_HOME", NULL);
	if (xdg_data)
		join_path(data, n, (const char *[]){xdg_data, "igloo", NULL});
	else
		join_path(data, n, (const char *[]){home, ".local/share", "igloo", NULL});
	/* Not /tmp/igloo-run-UID: another user could create it first (paths.ts). */
	if (xdg_run)
		join_path(run, n, (const char *[]){xdg_run, "igloo", NULL});
	else if (xdg_cache)
		join_path(run, n, (const char *[]){xdg_cache, "igloo", "run", NULL});
	else
		join_path(run, n, (const char *[]){home, ".cache", "igloo", "run", NULL});
}

int cmd_dirs(void)
{
	char data[PATH_MAX], run[PATH_MAX];
	igloo_dirs(data, run, sizeof(data));
	printf("data %s\nrun %s\n", data, run);
	return 0;
}
