/*
 * igloo-helper: main() dispatches the modes (PROTOCOL.md, "Invocation").
 * Run under the name `igloo` it is the command's native front (front.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dirs.h"
#include "front.h"
#include "helper.h"
#include "idmapped.h"
#include "netlink.h"
#include "report.h"
#include "restore.h"
#include "xattrs.h"
#include "zygote.h"

#define HELPER_VERSION "1"

static const char usage[] =
	"usage: igloo-helper start|exec|zygote|restore|idmap-check|xattrs|shift|--version\n"
	"  start, exec       plan on fd 3, sync socket on fd 4\n"
	"  zygote            fd 3 to the caller; forks a helper per connection\n"
	"  restore [--console KEY UID GID] RUNDIR CRIU [ARG...]\n"
	"  idmap-check DIR\n"
	"  xattrs set|copy-tree SRC DST\n"
	"  shift DIR RANGE...\n"
	"  peercred          the credentials of the peer of the unix socket on fd 0\n"
	"  netlink attach|configure|detach ...   bridge mode's veth (netlink.c)\n"
	"  (see PROTOCOL.md)\n";

/*
 * `igloo-helper peercred`: prints "UID GID PID" of the process that
 * connected the unix socket on fd 0 (SO_PEERCRED: the kernel's record of
 * who called connect(), fixed at that moment, so no race with a pid reused
 * later). Node has no call for it; `igloo serve` hands a connection of
 * root's users' socket here to learn whose containers it may touch.
 */
static int cmd_peercred(void)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(0, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		fprintf(stderr, "igloo-helper peercred: getsockopt(SO_PEERCRED): %s\n", strerror(errno));
		return 1;
	}
	printf("%u %u %d\n", (unsigned)cred.uid, (unsigned)cred.gid, (int)cred.pid);
	return 0;
}

/* fds 0-2 must exist, or our own pipes would land on them. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);
			if (n < 0)
				exit(1);
			if (n != fd) {
				if (dup2(n, fd) < 0)
					exit(1);
				close(n);
			}
		}
	}
}

/* fd 4, the sync socket, must not reach anything we exec. */
static void sync_fd_cloexec(void)
{
	if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
		sync_fd = -1;
}

/*
 * Not dumpable from the start, in every mode (the `igloo` front, start,
 * exec, the zygote and the helpers it forks, the monitor): a process that
 * is not dumpable can be ptraced, and its /proc/PID/{exe,mem,fd,environ,
 * ns} opened, only with CAP_SYS_PTRACE in the user namespace this binary
 * was exec'd in (the host's), never by a container's root. fork() and
 * clone() inherit it; execve() of the container's program resets it. The
 * exceptions: the start child while newuidmap writes its maps (see
 * start_child in start.c), and the detached monitor (detach_as_monitor in
 * parent.c).
 */
__attribute__((constructor)) static void not_dumpable(void)
{
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
	/* Run as `igloo` (a link to this binary): the command's native front. */
	const char *base = strrchr(argv[0], '/');
	if (strcmp(base ? base + 1 : argv[0], "igloo") == 0) {
		ensure_stdio();
		front_main(argc, argv);
	}
	/* Run as `igloo-runc`: the OCI runtime's command line (igloo oci). */
	if (strcmp(base ? base + 1 : argv[0], "igloo-runc") == 0) {
		ensure_stdio();
		front_runc(argc, argv);
	}
	const char *mode = argc >= 2 ? argv[1] : "";
	if (argc == 2 && strcmp(mode, "--version") == 0) {
		printf("igloo-helper %s\n", HELPER_VERSION);
		return 0;
	}
	/* hidden: the front's directories, for test/integration/front-dirs.test.ts */
	if (argc == 2 && strcmp(mode, "dirs") == 0)
		return cmd_dirs();
	if (argc == 2 && strcmp(mode, "peercred") == 0)
		return cmd_peercred();
	if (strcmp(mode, "netlink") == 0)
		return cmd_netlink(argc, argv);
	if (argc == 3 && strcmp(mode, "idmap-check") == 0)
		return cmd_idmap_check(argv[2]);
	if (strcmp(mode, "xattrs") == 0)
		return cmd_xattrs(argc, argv);
	if (strcmp(mode, "shift") == 0)
		return cmd_shift(argc, argv);
	if (argc == 2 && strcmp(mode, "zygote") == 0) {
		ensure_stdio();
		return cmd_zygote(argv[1]);
	}
	if (strcmp(mode, "restore") == 0) {
		ensure_stdio();
		sync_fd_cloexec();
		return cmd_restore(argc, argv);
	}
	if (argc != 2 || (strcmp(mode, "start") != 0 && strcmp(mode, "exec") != 0)) {
		fputs(usage, stderr);
		return 2;
	}
	ensure_stdio();
	sync_fd_cloexec();
	if (fcntl(PLAN_FD, F_GETFD) < 0)
		fail(0, "igloo-plan", EBADF, "fd 3 (the plan) is not open");
	return helper_run_plan(strcmp(mode, "exec") == 0 ? PLAN_EXEC : PLAN_START, 0, NULL);
}
