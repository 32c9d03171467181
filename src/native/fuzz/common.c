/* What both harnesses share (fuzz.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuzz.h"
#include "../util.h"

jmp_buf fuzz_env;

void __wrap_fail(int index, const char *op, int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
void __wrap_fail(int index, const char *op, int err, const char *fmt, ...)
{
	char msg[1024], line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sanitize_line(msg);
	snprintf(line, sizeof(line), "ERROR %d %s %d %s", index, op, err, msg);
	longjmp(fuzz_env, 1);
}

void fuzz_plan_free(struct plan *p)
{
	free(p->buf);
	free(p->strs);
	free(p->recs);
	memset(p, 0, sizeof(*p));
}

void fuzz_plan_walk(const struct plan *p)
{
	volatile size_t sum = 0;
	for (size_t i = 0; i < p->nrecs; i++) {
		const struct record *r = &p->recs[i];
		sum += strlen(r->op);
		for (int a = 0; a < r->argc; a++)
			sum += strlen(r->argv[a]);
	}
	if (p->rundir)
		sum += strlen(p->rundir);
	if (p->consolelog)
		sum += strlen(p->consolelog);
	for (int c = 0; c < p->ncgroups; c++)
		sum += (size_t)p->cgroups[c]->argc;
	(void)sum;
}

int fuzz_memfd(const void *data, size_t size)
{
	int fd = (int)syscall(SYS_memfd_create, "fuzz-plan", 0);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
