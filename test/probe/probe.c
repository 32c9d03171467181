/*
 * igloo's in-container probe: checks from inside a container that the
 * hardening every container gets is in place. Built by the tests with
 * `cc -static -O2 -o probe probe.c` and copied into a container's rootfs.
 *
 *   probe                  run every check, print one line per check
 *   probe --nesting        the same for a nesting container: user namespaces,
 *                          clone3 and the new mount API work there
 *   probe --init FILE      the same, written to FILE, then wait as the
 *                          container's init until SIGTERM/SIGUSR2/SIGINT/SIGPWR
 *
 * Lines: "ok NAME DETAIL" or "FAIL NAME DETAIL"; exit status 0 if every
 * check passed. The i386 and x32 checks issue system calls through those
 * ABIs (int $0x80, the x32 bit) to prove the filter covers them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define TMPFS_MAGIC 0x01021994
#define X32_BIT 0x40000000L
#define NR32_KEYCTL 288       /* syscall_32.tbl */
#define NR32_FINIT_MODULE 350 /* syscall_32.tbl */
#define NRX32_KEYCTL 250      /* syscall_64.tbl, common */
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_PROCESS_KEYRING -2
#define NR32_IOCTL 54 /* syscall_32.tbl */
#define AF_VSOCK_ 40
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

static int nesting; /* --nesting: user namespaces and the new mount API are allowed */

static char out[65536];
static size_t outlen;
static int failures;

static void line(int ok, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!ok)
		failures++;
	int n = snprintf(out + outlen, sizeof(out) - outlen, "%s %s %s\n",
			 ok ? "ok" : "FAIL", name, detail);
	if (n > 0 && outlen + (size_t)n < sizeof(out))
		outlen += (size_t)n;
}

static const char *en(int e)
{
	static char buf[8][32];
	static int k;
	const char *name = strerrorname_np(e);
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s", name ? name : "?");
	return buf[k];
}

/* "Key:\tvalue" from /proc/self/status */
static int status_field(const char *key, char *val, size_t n)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char buf[512];
	size_t kl = strlen(key);
	int found = -1;
	while (fgets(buf, sizeof(buf), f)) {
		if (strncmp(buf, key, kl) == 0 && buf[kl] == ':') {
			char *v = buf + kl + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			v[strcspn(v, "\n")] = '\0';
			snprintf(val, n, "%s", v);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Only fds 0-2 may be open (besides the one reading the directory). */
static void check_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		line(0, "fds", "opendir /proc/self/fd: %s", en(errno));
		return;
	}
	int self = dirfd(d);
	char list[256] = "";
	int extra = 0, std = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self)
			continue;
		if (fd <= 2)
			std++;
		else
			extra++;
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%d", l ? "," : "", fd);
	}
	closedir(d);
	line(extra == 0 && std == 3, "fds", "open: %s", list);
}

static void check_status(void)
{
	char v[128];
	int r = status_field("Seccomp", v, sizeof(v));
	line(r == 0 && strcmp(v, "2") == 0, "seccomp", "Seccomp: %s", r ? "?" : v);
	r = status_field("NoNewPrivs", v, sizeof(v));
	line(r == 0 && strcmp(v, "1") == 0, "no_new_privs", "NoNewPrivs: %s", r ? "?" : v);
	r = status_field("CapBnd", v, sizeof(v));
	unsigned long long bnd = r == 0 ? strtoull(v, NULL, 16) : ~0ULL;
	/* sys_module 16, sys_rawio 17, sys_time 25, audit_control 30,
	 * mac_override 32, mac_admin 33, syslog 34, wake_alarm 35 must be gone;
	 * sys_admin 21 (mounts, nested containers) stays. */
	int dropped[] = {16, 17, 25, 30, 32, 33, 34, 35};
	int ok = r == 0 && (bnd & (1ULL << 21));
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (bnd & (1ULL << dropped[i]))
			ok = 0;
	line(ok, "capbnd", "CapBnd: %s", r ? "?" : v);
}

static void check_mknod(void)
{
	const char *path = "/tmp/.igloo-probe-null";
	int r = mknod(path, S_IFCHR | 0600, makedev(1, 3));
	int e = errno;
	if (r == 0)
		unlink(path);
	line(r < 0, "mknod", "mknod c 1 3: %s", r == 0 ? "created" : en(e));
}

/* A masked file is /dev/null bound over it: a char device 1:3 that reads empty. */
static void check_masked_file(const char *path)
{
	char name[128];
	snprintf(name, sizeof(name), "masked:%s", path);
	struct stat st;
	if (stat(path, &st) < 0) {
		line(errno == ENOENT, name, "absent on this kernel (%s)", en(errno));
		return;
	}
	int isnull = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
	char buf[256];
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	line(isnull && n <= 0, name, "%s, read %zd bytes",
	     isnull ? "/dev/null over it" : "NOT masked", n);
}

/* A masked directory is an empty read-only tmpfs. */
static void check_masked_dir(const char *path)
{
	char name[128];
	snprintf(name, sizeof(name), "masked:%s", path);
	struct statfs sf;
	struct statvfs sv;
	if (statfs(path, &sf) < 0) {
		line(errno == ENOENT, name, "absent on this kernel (%s)", en(errno));
		return;
	}
	int entries = 0;
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				entries++;
		closedir(d);
	}
	int ro = statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	int tmp = (unsigned long)sf.f_type == TMPFS_MAGIC;
	line(tmp && ro && entries == 0, name, "%s%s, %d entries", tmp ? "tmpfs" : "NOT tmpfs",
	     ro ? " ro" : " rw", entries);
}

static void check_readonly(const char *path)
{
	char name[128];
	snprintf(name, sizeof(name), "readonly:%s", path);
	struct statvfs sv;
	if (statvfs(path, &sv) < 0) {
		line(errno == ENOENT, name, "absent on this kernel (%s)", en(errno));
		return;
	}
	line((sv.f_flag & ST_RDONLY) != 0, name, "%s", (sv.f_flag & ST_RDONLY) ? "ro" : "rw");
}

/* The container's root owns the sysctls of its own network namespace:
 * without the read-only /proc/sys this open would succeed. */
static void check_proc_sys_write(void)
{
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	int e = errno;
	if (fd >= 0)
		close(fd);
	line(fd < 0 && e == EROFS, "proc_sys_write", "open /proc/sys/net/ipv4/ip_forward for writing: %s",
	     fd >= 0 ? "opened" : en(e));
}

static sigjmp_buf int80_jmp;

static void int80_fault(int sig)
{
	(void)sig;
	siglongjmp(int80_jmp, 1);
}

/* An i386 system call from this 64-bit process. Returns -errno, or
 * INT80_MISSING when the kernel has no i386 ABI (int $0x80 faults: then
 * there is nothing to get around the filter with). */
#define INT80_MISSING (-100000L)
static long sys32(long nr, long a, long b, long c)
{
	long ret;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = int80_fault;
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(int80_jmp, 1)) {
		sigaction(SIGSEGV, &old, NULL);
		return INT80_MISSING;
	}
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	sigaction(SIGSEGV, &old, NULL);
	return ret;
}

static void expect_errno(const char *name, long r, int want, int also)
{
	int e = errno;
	line(r < 0 && (e == want || e == also), name, "%s", r < 0 ? en(e) : "succeeded");
}

static void check_syscalls(void)
{
	long r;
	errno = 0;
	r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	expect_errno("keyctl", r, ENOSYS, ENOSYS);
	r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0);
	expect_errno("keyctl_join_session", r, ENOSYS, ENOSYS);
	r = syscall(SYS_add_key, "user", "igloo-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
	expect_errno("add_key", r, ENOSYS, ENOSYS);
	r = syscall(SYS_request_key, "user", "igloo-probe", NULL, 0);
	expect_errno("request_key", r, ENOSYS, ENOSYS);

	r = sys32(NR32_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	if (r == INT80_MISSING)
		line(1, "keyctl_i386", "no i386 ABI on this kernel (int $0x80 faults)");
	else
		line(r == -ENOSYS, "keyctl_i386", "int $0x80 keyctl: %s",
		     r < 0 ? en((int)-r) : "succeeded");
	r = sys32(NR32_FINIT_MODULE, -1, 0, 0);
	if (r == INT80_MISSING)
		line(1, "finit_module_i386", "no i386 ABI on this kernel (int $0x80 faults)");
	else
		line(r == -EPERM, "finit_module_i386", "int $0x80 finit_module: %s",
		     r < 0 ? en((int)-r) : "succeeded");
	r = syscall(X32_BIT | NRX32_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	expect_errno("keyctl_x32", r, ENOSYS, ENOSYS);

	struct {
		unsigned int bytes;
		int type;
		unsigned char h[8];
	} handle = {8, 1, {0}};
	r = syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
	expect_errno("open_by_handle_at", r, EPERM, EPERM);
	r = syscall(SYS_init_module, NULL, 0, "");
	expect_errno("init_module", r, EPERM, EPERM);
	r = syscall(SYS_finit_module, -1, "", 0);
	expect_errno("finit_module", r, EPERM, EPERM);
	r = syscall(SYS_delete_module, "igloo_probe", 0);
	expect_errno("delete_module", r, EPERM, EPERM);
	r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
	expect_errno("kexec_load", r, EPERM, EPERM);
}

/* Outside --nesting a new user namespace is refused (EPERM); in a nesting
 * container it works under the filter (without no_new_privs). */
static void check_nested_userns(void)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		line(0, "nested_userns", "pipe: %s", en(errno));
		return;
	}
	uid_t outer = geteuid();
	pid_t pid = fork();
	if (pid == 0) {
		char msg[128];
		if (unshare(CLONE_NEWUSER) < 0) {
			snprintf(msg, sizeof(msg), "unshare(CLONE_NEWUSER): %s", en(errno));
		} else {
			char map[64];
			int fd = open("/proc/self/uid_map", O_WRONLY);
			int n = snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer);
			if (fd < 0 || write(fd, map, (size_t)n) != n)
				snprintf(msg, sizeof(msg), "write uid_map: %s", en(errno));
			else
				snprintf(msg, sizeof(msg), "uid %u in a new user namespace", (unsigned)getuid());
		}
		if (write(pipefd[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pipefd[1]);
	char msg[128] = "";
	ssize_t n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	if (n > 0)
		msg[n] = '\0';
	int st = 0;
	waitpid(pid, &st, 0);
	const char *want = nesting ? "uid 0 in a new user namespace" : "unshare(CLONE_NEWUSER): EPERM";
	line(strcmp(msg, want) == 0, "nested_userns", "%s", msg);

	/* clone(CLONE_NEWUSER) directly, and clone3 (which a filter cannot read) */
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (r == 0)
		_exit(0);
	int e = errno;
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	line(nesting ? r > 0 : (r < 0 && e == EPERM), "clone_newuser", "%s",
	     r > 0 ? "created" : en(e));
	struct {
		unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack,
			stack_size, tls;
	} ca = {0, 0, 0, 0, SIGCHLD, 0, 0, 0};
	r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r == 0)
		_exit(0);
	e = errno;
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	line(nesting ? r > 0 : (r < 0 && e == ENOSYS), "clone3", "%s", r > 0 ? "created" : en(e));
}

/* Kernel surfaces the filter closes, and the new mount API (ENOSYS outside nesting). */
static void check_surfaces(void)
{
	long r = syscall(SYS_io_uring_setup, 1, NULL);
	expect_errno("io_uring_setup", r, ENOSYS, ENOSYS);
	r = syscall(SYS_bpf, 0, NULL, 0);
	expect_errno("bpf", r, EPERM, EPERM);
	r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
	expect_errno("perf_event_open", r, EPERM, EPERM);
	r = syscall(SYS_userfaultfd, 0);
	expect_errno("userfaultfd", r, EPERM, EPERM);
	r = syscall(SYS_personality, 0x0100000UL /* MMAP_PAGE_ZERO */);
	expect_errno("personality", r, EPERM, EPERM);
	r = syscall(SYS_personality, 0xffffffffUL);
	line(r >= 0, "personality_query", "%s", r >= 0 ? "ok" : en(errno));
	r = syscall(SYS_socket, (1UL << 32) | AF_VSOCK_, SOCK_STREAM, 0);
	if (r >= 0)
		close((int)r);
	expect_errno("vsock", r, EAFNOSUPPORT, EAFNOSUPPORT);
	r = syscall(SYS_fsopen, "tmpfs", 0);
	int e = errno;
	if (r >= 0)
		close((int)r);
	line(nesting ? r >= 0 : (r < 0 && e == ENOSYS), "fsopen", "%s", r >= 0 ? "opened" : en(e));
	/* mount(2) stays: a tmpfs inside */
	if (mkdir("/tmp/.igloo-probe-mnt", 0700) < 0 && errno != EEXIST) {
		line(0, "mount_tmpfs", "mkdir: %s", en(errno));
		return;
	}
	r = mount("probe", "/tmp/.igloo-probe-mnt", "tmpfs", 0, "size=64k");
	e = errno;
	if (r == 0)
		umount2("/tmp/.igloo-probe-mnt", MNT_DETACH);
	rmdir("/tmp/.igloo-probe-mnt");
	line(r == 0, "mount_tmpfs", "%s", r == 0 ? "mounted" : en(e));
}

/* TIOCSTI on a terminal that IS the caller's controlling terminal (a pty
 * made here: setsid, TIOCSCTTY) is refused, through every way of asking:
 * the plain call, cmd with high bits set (the kernel drops them), and the
 * i386 ABI; TIOCLINUX too. The terminal's input queue stays empty, and the
 * ioctls a shell needs work. One line per check, written by a child (the
 * session leader) to a pipe. */
static void check_tty(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		line(0, "tiocsti", "pipe: %s", en(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		char buf[1024];
		size_t len = 0;
#define OUT(...) (len += (size_t)snprintf(buf + len, sizeof(buf) - len, __VA_ARGS__))
		int m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m < 0 || unlockpt(m) < 0 || setsid() < 0) {
			OUT("FAIL tiocsti pty: %s\n", en(errno));
			goto done;
		}
		int s = open(ptsname(m), O_RDWR);
		if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) {
			OUT("FAIL tiocsti controlling tty: %s\n", en(errno));
			goto done;
		}
		/* raw: FIONREAD then counts every queued byte, not whole lines */
		struct termios raw;
		if (tcgetattr(s, &raw) == 0) {
			cfmakeraw(&raw);
			tcsetattr(s, TCSANOW, &raw);
		}
		/* the byte below 4 GiB, so the i386 call can name it too */
		char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		char c = 'X';
		if (low != MAP_FAILED)
			*low = 'X';
		errno = 0;
		long r = syscall(SYS_ioctl, s, (unsigned long)TIOCSTI, &c);
		OUT("%s tiocsti ioctl(TIOCSTI) on the controlling tty: %s\n",
		    r < 0 && errno == EPERM ? "ok" : "FAIL", r < 0 ? en(errno) : "injected");
		r = syscall(SYS_ioctl, s, (1UL << 32) | TIOCSTI, &c);
		OUT("%s tiocsti_high ioctl(1<<32|TIOCSTI): %s\n",
		    r < 0 && errno == EPERM ? "ok" : "FAIL", r < 0 ? en(errno) : "injected");
		r = sys32(NR32_IOCTL, s, TIOCSTI, low == MAP_FAILED ? 0 : (long)(unsigned long)low);
		if (r == INT80_MISSING)
			OUT("ok tiocsti_i386 no i386 ABI on this kernel\n");
		else
			OUT("%s tiocsti_i386 int $0x80 ioctl(TIOCSTI): %s\n",
			    r == -EPERM ? "ok" : "FAIL", r < 0 ? en((int)-r) : "injected");
		char sel[2] = {2 /* TIOCL_SETSEL's neighbour: any subcode */, 0};
		r = syscall(SYS_ioctl, s, (unsigned long)TIOCLINUX, sel);
		OUT("%s tioclinux ioctl(TIOCLINUX): %s\n", r < 0 && errno == EPERM ? "ok" : "FAIL",
		    r < 0 ? en(errno) : "succeeded");
		int queued = -1;
		ioctl(s, FIONREAD, &queued);
		OUT("%s tty_input_empty %d bytes queued\n", queued == 0 ? "ok" : "FAIL", queued);
		struct winsize ws = {24, 80, 0, 0};
		struct termios t;
		int ok = ioctl(s, TIOCSWINSZ, &ws) == 0 && ioctl(s, TIOCGWINSZ, &ws) == 0 &&
			 ws.ws_col == 80 && tcgetattr(s, &t) == 0 && tcsetattr(s, TCSANOW, &t) == 0;
		OUT("%s tty_ioctls TIOCSWINSZ/TIOCGWINSZ/TCGETS/TCSETS: %s\n", ok ? "ok" : "FAIL",
		    ok ? "work" : en(errno));
	done:
		if (write(p[1], buf, len) < 0)
			_exit(2);
		_exit(0);
#undef OUT
	}
	close(p[1]);
	char buf[1024];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	waitpid(pid, NULL, 0);
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		char name[64];
		const char *rest = l;
		int ok = strncmp(l, "ok ", 3) == 0;
		rest = strchr(l, ' ') ? strchr(l, ' ') + 1 : l;
		size_t k = strcspn(rest, " ");
		snprintf(name, sizeof(name), "%.*s", (int)k, rest);
		line(ok, name, "%s", rest[k] ? rest + k + 1 : "");
	}
}

static void run_checks(void)
{
	check_fds(); /* first: before the probe opens anything */
	check_status();
	check_mknod();
	const char *files[] = {"/proc/kcore",       "/proc/keys",         "/proc/timer_list",
			       "/proc/sched_debug", "/proc/latency_stats", "/proc/timer_stats",
			       "/proc/sysrq-trigger"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		check_masked_file(files[i]);
	const char *dirs[] = {"/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		check_masked_dir(dirs[i]);
	const char *ro[] = {"/proc/sys", "/proc/irq", "/proc/bus"};
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		check_readonly(ro[i]);
	check_proc_sys_write();
	check_syscalls();
	check_nested_userns();
	check_surfaces();
	check_tty();
}

static void on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--nesting") == 0) {
		nesting = 1;
		argc--;
		argv++;
	}
	run_checks();
	if (argc == 3 && strcmp(argv[1], "--init") == 0) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, out, outlen) != (ssize_t)outlen || close(fd) < 0 ||
		    rename(tmp, argv[2]) < 0)
			return 1;
		int sigs[] = {SIGTERM, SIGUSR2, SIGINT, SIGPWR};
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], on_signal);
		for (;;) {
			pause();
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
	}
	fwrite(out, 1, outlen, stdout);
	return failures ? 1 : 0;
}
