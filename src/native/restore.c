/*
 * igloo-helper restore: criu restore, then the restored container's
 * monitor (PROTOCOL.md, "restore (CRIU)").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "compat.h"
#include "console.h"
#include "parent.h"
#include "report.h"
#include "restore.h"
#include "util.h"

/*
 * igloo-helper restore RUNDIR CRIU ARG...: runs `CRIU ARG...` (a `criu
 * restore -d --restore-sibling --pidfile RUNDIR/restore.pid ...`) as our
 * child while we are a child subreaper, so the restored init becomes our
 * child (CLONE_PARENT from criu, or reparented to us when criu exits); then
 * we are its monitor exactly as after a detached start (no pty).
 */
/*
 * restore --console KEY UID GID: a new console pty for the restored
 * container, from the host's devpts, its slave owned by the container's
 * root (UID GID on the host). The dump made the old console external (its
 * slave fds `--external KEY`, its /dev/console bind `--external
 * mnt[/dev/console]:console`); criu gets the new slave in place of both:
 * `--inherit-fd fd[N]:KEY --external mnt[console]:/dev/pts/M`. Returns the
 * master; *argvp becomes ARG... with those four arguments appended.
 */
static int restore_console_pty(const char *key, const char *uid, const char *gid,
			       char ***argvp, int *slave)
{
	unsigned long u, g;
	if (parse_ulong(uid, 10, &u) < 0 || parse_ulong(gid, 10, &g) < 0)
		fail(0, "restore", EINVAL, "--console: bad ids %s %s", uid, gid);
	int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		fail(0, "restore", errno, "open /dev/pts/ptmx: %s", strerror(errno));
	int unlock = 0, index = -1;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &index) < 0)
		fail(0, "restore", errno, "unlock the new console pty: %s",
		     strerror(errno));
	/* not close-on-exec: criu inherits it */
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s < 0)
		fail(0, "restore", errno, "open the new console's slave: %s",
		     strerror(errno));
	if (fchown(s, (uid_t)u, (gid_t)g) < 0)
		fail(0, "restore", errno, "chown the new console's slave: %s",
		     strerror(errno));
	static char fdarg[128], mntarg[64];
	snprintf(fdarg, sizeof(fdarg), "fd[%d]:%s", s, key);
	snprintf(mntarg, sizeof(mntarg), "mnt[console]:/dev/pts/%d", index);
	char **old = *argvp;
	size_t n = 0;
	while (old[n])
		n++;
	char **nv = calloc(n + 5, sizeof(char *));
	if (!nv)
		fail(0, "restore", ENOMEM, "out of memory");
	memcpy(nv, old, n * sizeof(char *));
	nv[n] = "--inherit-fd";
	nv[n + 1] = fdarg;
	nv[n + 2] = "--external";
	nv[n + 3] = mntarg;
	*argvp = nv;
	*slave = s;
	return m;
}

int cmd_restore(int argc, char **argv)
{
	const char *ckey = NULL, *cuid = NULL, *cgid = NULL;
	if (argc >= 6 && strcmp(argv[2], "--console") == 0) {
		ckey = argv[3];
		cuid = argv[4];
		cgid = argv[5];
		argv += 4;
		argc -= 4;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: igloo-helper restore [--console KEY UID GID] RUNDIR CRIU [ARG...]\n");
		return 2;
	}
	const char *rundir = argv[2];
	int sigfd = sigfd_setup();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fail(0, "restore", errno, "PR_SET_CHILD_SUBREAPER: %s",
		     strerror(errno));
	int rundirfd = open(rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rundirfd < 0)
		fail(0, "restore", errno, "open %s: %s", rundir, strerror(errno));
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		fail(0, "restore", errno, "open /dev/null: %s", strerror(errno));
	/* Our own session first: the restored tree's sessions are its own. */
	(void)setsid();
	char **cargv = argv + 3;
	int master = -1, slave = -1;
	if (ckey)
		master = restore_console_pty(ckey, cuid, cgid, &cargv, &slave);

	pid_t criu = fork();
	if (criu < 0)
		fail(0, "restore", errno, "fork: %s", strerror(errno));
	if (criu == 0) {
		reset_signals();
		sync_close();
		/* criu's output goes to its log; stdin is /dev/null. */
		(void)dup2(nullfd, 0);
		execv(cargv[0], cargv);
		fprintf(stderr, "igloo-helper: exec %s: %s\n", argv[3],
			strerror(errno));
		_exit(127);
	}
	int ws = 0;
	while (waitpid(criu, &ws, 0) < 0) {
		if (errno != EINTR)
			fail(0, "restore", errno, "waitpid: %s", strerror(errno));
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		char text[64];
		status_text(ws, text, sizeof(text));
		/* criu kills what it restored when it fails. */
		fail(0, "restore", EIO, "criu restore %s (see its log)", text);
	}
	char buf[32];
	ssize_t n = -1;
	int pf = openat(rundirfd, "restore.pid", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (pf >= 0) {
		n = read(pf, buf, sizeof(buf) - 1);
		close(pf);
	}
	unsigned long pid = 0;
	if (n > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	}
	if (n <= 0 || parse_ulong(buf, 10, &pid) < 0 || pid == 0 ||
	    kill((pid_t)pid, 0) < 0)
		fail(0, "restore", ESRCH,
		     "criu restore left no live init in %s/restore.pid", rundir);
	(void)unlinkat(rundirfd, "restore.pid", 0);
	int listenfd = -1;
	if (master >= 0) {
		/* the restored processes hold the slave now; the monitor
		 * takes a peer of its own */
		close(slave);
		listenfd = console_listen(rundirfd);
		if (listenfd < 0) {
			int e = errno;
			killwait((pid_t)pid);
			fail(0, "restore", e, "listen on %s/console.sock: %s",
			     rundir, strerror(e));
		}
	}
	write_init_file(rundirfd, (pid_t)pid);
	sync_send("READY %lu", pid);
	detach_as_monitor(nullfd);
	/* SIGCHLD of an init that died before this point is still pending on
	 * the signalfd: run_monitor reaps it at once. */
	run_monitor((pid_t)pid, master, sigfd, rundirfd, listenfd);
}
