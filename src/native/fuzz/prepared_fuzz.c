/*
 * libFuzzer harness: the native front's prepared-plan reader (front.c,
 * read_prepared, then plan_on_fd3 and the helper's plan_read, as `igloo
 * exec` and `igloo run` run them without Node). front.c is included so its
 * static functions can be called; nothing of it runs but those three.
 * The input is the prepared plan file.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "../front.c"

static char fuzz_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* plan_on_fd3 puts the plan on fd 3: it must not be anything else */
	if (fcntl(PLAN_FD, F_GETFD) != -1) {
		fprintf(stderr, "prepared_fuzz: fd %d is open; run it with fd %d closed\n", PLAN_FD,
			PLAN_FD);
		exit(2);
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/igloo-prepared-fuzz.%d", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PREPARED_MAX)
		return 0;
	int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data, size) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	static const char *const kinds[] = {"exec", "run"};
	char *cmd[] = {"/bin/sh", "-c", "true", NULL};
	for (int k = 0; k < 2; k++) {
		struct prepared pp;
		if (read_prepared(fuzz_path, kinds[k], &pp) < 0)
			continue;
		int placed = plan_on_fd3(&pp, cmd, 3);
		free(pp.buf);
		if (placed < 0) {
			close(PLAN_FD);
			continue;
		}
		struct plan p;
		if (setjmp(fuzz_env) == 0) {
			if (plan_read(&p, PLAN_FD, k == 0 ? PLAN_EXEC : PLAN_START) == 0)
				fuzz_plan_walk(&p);
		}
		fuzz_plan_free(&p);
		close(PLAN_FD); /* already closed by plan_read, unless it failed reading */
	}
	return 0;
}
