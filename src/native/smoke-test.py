#!/usr/bin/env python3
"""C-level smoke test driver for igloo-helper (run by smoke-test.sh).

Plays the TypeScript side of PROTOCOL.md: writes plans (NUL-separated
strings) on fd 3, talks on the sync socket (fd 4), writes the id maps (root)
or calls newuidmap/newgidmap (unprivileged), and checks what comes back.
Most plans here have no `idmap` records, so the helper sends `PID` and waits
for `MAPPED`: that exchange exists for this test only (TypeScript always
sends the maps with the plan, which idmap_records_test covers).

usage: smoke-test.py HELPER WORKDIR USER
"""
import os
import signal
import socket
import subprocess
import sys
import time

HELPER, WORK, USER = sys.argv[1], sys.argv[2], sys.argv[3]
ROOTFS = os.path.join(WORK, "rootfs")
MAP = "0 2000000 65536"
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC = 1, 2, 4, 8, 16384
PASSED, FAILED = [], []
children = []  # Popen objects to clean up


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else "\n     " + str(detail)))
    sys.stdout.flush()


def encode(records):
    out = []
    for rec in records:
        out.extend(str(x) for x in rec)
    return b"".join(s.encode() + b"\0" for s in out)


def exec_rec(file, argv, env=("PATH=/bin",)):
    return ["exec", file, len(argv), *argv, len(env), *env]


def container_plan(mode="foreground", console="inherit", rundir=None, cmd=None,
                   extra=(), hostname="smoke", ns="user,pid,mnt,uts,ipc,net",
                   groups=(0,), post=()):
    recs = [["igloo-plan", 1], ["namespaces", ns], ["mode", mode], ["console", console]]
    if rundir:
        recs.append(["rundir", rundir])
    recs += [
        ["rootfs", ROOTFS],
        ["mount", "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""],
        ["mount", "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755"],
        ["bind", "/dev/null", "/dev/null", 0],
        ["bind", "/dev/zero", "/dev/zero", MS_NOSUID | MS_NOEXEC],
        ["bind", "/dev/urandom", "/dev/urandom", 0],
        ["mount", "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620"],
        ["symlink", "pts/ptmx", "/dev/ptmx"],
        ["mount", "sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, ""],
        ["mkdir", "/tmp", "1777"],
        *extra,
        ["pivot"],
        ["hostname", hostname],
        ["chdir", "/"],
        ["rlimit", "RLIMIT_NOFILE", 1024, 4096],
        ["ids", 0, 0, *groups],
        *post,
        exec_rec("/bin/sh", ["sh", "-c", cmd or "true"]),
    ]
    return recs


def as_user(argv):
    return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", *argv]


class Run:
    """One helper process with its plan pipe and sync socket."""

    def __init__(self, cmd, records, user=False, stdin=subprocess.DEVNULL,
                 detached=False, raw_plan=None):
        plan = raw_plan if raw_plan is not None else encode(records)
        pr, pw = os.pipe()
        self.sock, child_sock = socket.socketpair()
        os.write(pw, plan)
        os.close(pw)
        fds = (pr, child_sock.fileno())

        def setup():
            a = os.dup(fds[0]) if fds[0] in (3, 4) else fds[0]
            b = os.dup(fds[1]) if fds[1] in (3, 4) else fds[1]
            b2 = os.dup(b)
            os.dup2(a, 3)
            os.dup2(b2, 4)

        argv = [HELPER, cmd]
        if user:
            argv = as_user(argv)
        self.user = user
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, pass_fds=(3, 4),
                                  preexec_fn=setup, start_new_session=detached)
        children.append(self.p)
        os.close(pr)
        child_sock.close()
        self.f = self.sock.makefile("r")
        self.lines = []

    def line(self):
        ln = self.f.readline()
        if ln:
            self.lines.append(ln.rstrip("\n"))
            return ln.rstrip("\n")
        return None

    def map_and_go(self, pid):
        if self.user:
            for tool in ("newuidmap", "newgidmap"):
                r = subprocess.run(as_user([tool, str(pid), *MAP.split()]),
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    self.sock.sendall(b"ABORT\n")
                    raise RuntimeError(f"{tool}: {r.stderr}")
        else:
            for f in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{f}", "w") as fh:
                    fh.write(MAP + "\n")
        self.sock.sendall(b"MAPPED\n")

    def until_ready(self, mapped=True):
        """Handle PID/MAPPED (mapped=False: MAPPED without writing maps);
        return ('READY', pid) or ('ERROR', line)."""
        while True:
            ln = self.line()
            if ln is None:
                return ("EOF", None)
            if ln.startswith(("PID ", "READY ")):
                # smoke-test.sh kills these (by pid) on exit
                with open(os.path.join(WORK, "pids"), "a") as fh:
                    fh.write(ln.split()[1] + "\n")
            if ln.startswith("PID "):
                if mapped:
                    self.map_and_go(int(ln.split()[1]))
                else:
                    self.sock.sendall(b"MAPPED\n")
            elif ln.startswith("READY "):
                return ("READY", int(ln.split()[1]))
            elif ln.startswith("ERROR "):
                return ("ERROR", ln)

    def finish(self, timeout=20):
        out, err = self.p.communicate(timeout=timeout)
        while self.line() is not None:
            pass
        return self.p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def foreground_test(tag, user):
    marker = os.path.join(WORK, "robind")
    cmd = ("sleep 0.3; echo pid=$$; echo uid=$(id -u); echo host=$(hostname); "
           "grep NSpid /proc/1/status; ls -C /proc/1/fd; "
           "grep -E ' /(proc|sys|dev|mnt/ro) ' /proc/self/mountinfo; "
           "touch /mnt/ro/x 2>/dev/null && echo ro=writable || echo ro=readonly; "
           "echo nofile=$(ulimit -n); echo zero=$(head -c 3 /dev/zero | wc -c); "
           "ls -ld /dev/pts /tmp; echo setgroups=$(cat /proc/self/setgroups); echo groups=$(id -G)")
    r = Run("start", container_plan(cmd=cmd, groups=(2, 0, 5), extra=[
        ["bind", marker, "/mnt/ro", MS_RDONLY | MS_NOSUID | MS_NODEV]]), user=user)
    state, pid = r.until_ready()
    try:
        host_nspid = [ln for ln in open(f"/proc/{pid}/status") if ln.startswith("NSpid")]
    except (OSError, TypeError) as e:
        host_nspid = [str(e)]
    code, out, err = r.finish()
    check(f"{tag}: READY", state == "READY", (r.lines, err))
    check(f"{tag}: exit 0 and EXIT exited 0", code == 0 and "EXIT exited 0" in r.lines,
          (code, r.lines, err))
    check(f"{tag}: pid 1 inside", "pid=1" in out, out)
    check(f"{tag}: uid 0 inside", "uid=0" in out, out)
    check(f"{tag}: hostname", "host=smoke" in out, out)
    nspid = [ln for ln in out.splitlines() if ln.startswith("NSpid")]
    check(f"{tag}: NSpid inside is 1", nspid and nspid[0].split()[1:] == ["1"], nspid)
    check(f"{tag}: NSpid on the host is '<host pid> 1'",
          host_nspid[0].split()[1:] == [str(pid), "1"], (host_nspid, pid))
    fdline = next((ln for ln in out.splitlines() if ln.strip() and
                   all(t.isdigit() for t in ln.split())), "")
    check(f"{tag}: init has only fds 0 1 2", fdline.split() == ["0", "1", "2"], out)
    check(f"{tag}: read-only bind", "ro=readonly" in out, out)
    check(f"{tag}: rlimit", "nofile=1024" in out, out)
    check(f"{tag}: /dev/zero bound", "zero=3" in out, out)
    print("     --- output ---\n" + "\n".join("     " + ln for ln in out.splitlines()))


def pty_foreground_test(user):
    r = Run("start", container_plan(console="pty", cmd="tty; echo fds=$(ls /proc/self/fd | tr '\\n' ' '); exit 4"),
            user=user)
    state, _ = r.until_ready()
    code, out, err = r.finish()
    check("foreground pty: /dev/pts/0, exit 4, EXIT exited 4",
          state == "READY" and code == 4 and "/dev/pts/0" in out and "EXIT exited 4" in r.lines,
          (code, out, r.lines, err))
    check("foreground pty: no stray fds", "fds=0 1 2 3" in out, out)


def core_plan_test(user):
    """The mounts src/core/plan makes for a container without a net
    namespace: /sys is then the host's, bound recursively read-only."""
    recs = [["igloo-plan", 1], ["namespaces", "user,pid,mnt,uts,ipc"], ["mode", "foreground"],
            ["console", "inherit"], ["rootfs", ROOTFS],
            ["mount", "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""],
            ["mount", "tmpfs", "/dev", "tmpfs", MS_NOSUID | (1 << 24), "mode=755,size=65536k"]]
    for dev in ("null", "zero", "full", "random", "urandom", "tty"):
        recs.append(["bind", "/dev/" + dev, "/dev/" + dev, MS_NOSUID | MS_NOEXEC])
    recs += [["mount", "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5"],
             ["symlink", "pts/ptmx", "/dev/ptmx"],
             ["mount", "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"],
             ["mount", "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""],
             ["symlink", "/proc/self/fd", "/dev/fd"],
             ["bind", "/sys", "/sys", MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC],
             ["pivot"], ["hostname", "core"], ["chdir", "/"], ["ids", 0, 0, 0],
             exec_rec("/bin/sh", ["sh", "-c", "grep ' /sys' /proc/self/mountinfo | cut -d' ' -f5,6; "
                                  "echo x > /dev/null && echo devnull=ok; ls /dev/fd/ >/dev/null && echo fd=ok"])]
    r = Run("start", recs, user=user)
    state, _ = r.until_ready()
    code, out, err = r.finish()
    sys_lines = [ln for ln in out.splitlines() if ln.startswith("/sys")]
    check(f"core plan ({'user' if user else 'root'}): READY, exit 0", state == "READY" and code == 0,
          (r.lines, err))
    check("core plan: /sys and every submount read-only", len(sys_lines) > 1 and
          all(ln.split()[1].startswith("ro,") for ln in sys_lines), out)
    check("core plan: /dev/null usable, /dev/fd", "devnull=ok" in out and "fd=ok" in out, out)


# A small seccomp program: x86_64 keyctl (250) -> ENOSYS, other x86_64
# calls allowed, any other ABI killed. 8 bytes per instruction, as hex.
def bpf_hex(insns):
    import struct
    return b"".join(struct.pack("<HBBI", *i) for i in insns).hex()


KEYCTL_FILTER = bpf_hex([
    (0x20, 0, 0, 4),            # ld arch
    (0x15, 0, 4, 0xc000003e),   # jeq AUDIT_ARCH_X86_64, else kill
    (0x20, 0, 0, 0),            # ld nr
    (0x15, 0, 1, 250),          # jeq keyctl
    (0x06, 0, 0, 0x00050026),   # ret ERRNO(ENOSYS)
    (0x06, 0, 0, 0x7fff0000),   # ret ALLOW
    (0x06, 0, 0, 0x80000000),   # ret KILL_PROCESS
])


def hardening_test(user):
    tag = "hardening (" + ("user" if user else "root") + ")"
    cmd = ("grep -E '^(Seccomp|NoNewPrivs|CapBnd|CapInh|CapAmb):' /proc/self/status; "
           "echo keys=$(wc -c < /proc/keys); ls -A /proc/acpi | wc -l | sed 's/^/acpi=/'; "
           "grep -E ' /proc/(sys|keys|acpi) ' /proc/self/mountinfo | cut -d' ' -f5,6; "
           "echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo sysctl=writable || echo sysctl=refused")
    r = Run("start", container_plan(cmd=cmd, extra=[
        ["readonly", "/proc/sys"], ["mask", "/proc/keys"], ["mask", "/proc/acpi"],
        ["mask", "/proc/no-such-file"]],
        post=[["caps", "%x" % ((1 << 41) - 1 - (1 << 16) - (1 << 25))], ["nnp"],
              ["seccomp", KEYCTL_FILTER]]), user=user)
    state, _ = r.until_ready()
    code, out, err = r.finish()
    check(f"{tag}: READY, exit 0", state == "READY" and code == 0, (r.lines, out, err))
    check(f"{tag}: seccomp filter and no_new_privs", "Seccomp:\t2" in out and "NoNewPrivs:\t1" in out, out)
    check(f"{tag}: bounding set without sys_module and sys_time, no inheritable/ambient",
          "CapBnd:\t000001fffdfeffff" in out and "CapInh:\t0000000000000000" in out and
          "CapAmb:\t0000000000000000" in out, out)
    check(f"{tag}: masked file reads empty, masked dir is empty, missing path skipped",
          "keys=0" in out and "acpi=0" in out, out)
    check(f"{tag}: /proc/sys read-only", "/proc/sys ro," in out and "sysctl=refused" in out, out)
    bad = container_plan(post=[["seccomp", "00zz"]])
    r = Run("start", bad, user=user)
    state, line = r.until_ready()
    r.finish()
    check(f"{tag}: bad seccomp program -> ERROR seccomp EINVAL", state == "ERROR" and " seccomp EINVAL " in line,
          line)


def no_userns_test():
    r = Run("start", container_plan(ns="pid,mnt,uts,ipc", cmd="echo pid=$$ uid=$(id -u); cat /proc/self/uid_map",
                                    extra=[]))
    r.lines = []
    state, _ = r.until_ready(mapped=False)
    code, out, err = r.finish()
    check("root without a user namespace: PID, MAPPED (no maps), pid 1",
          state == "READY" and code == 0 and "pid=1 uid=0" in out and r.lines[0].startswith("PID "),
          (code, out, r.lines, err))


def idmap_records_test(user):
    """Maps carried by the plan: the helper installs them (as root by
    writing /proc, as a user through newuidmap/newgidmap), with no PID or
    MAPPED on the sync socket; a refused map is an ERROR against `idmap`."""
    tag = "user" if user else "root"
    inside, outside, count = MAP.split()
    maps = [["idmap", "uid", 1, inside, outside, count], ["idmap", "gid", 1, inside, outside, count]]
    recs = container_plan(cmd="cat /proc/self/uid_map /proc/self/gid_map; id -u")
    r = Run("start", recs[:1] + maps + recs[1:], user=user)
    state, _ = r.until_ready()
    code, out, err = r.finish()
    want = f"{inside} {outside} {count}"
    check(f"idmap records ({tag}): READY with no PID line, both maps installed",
          state == "READY" and code == 0 and not any(ln.startswith("PID ") for ln in r.lines)
          and [" ".join(ln.split()) for ln in out.splitlines()[:2]] == [want, want]
          and out.splitlines()[2:] == ["0"], (r.lines, out, err))
    # ids the user was not delegated (and, as root, two overlapping entries)
    bad = [["idmap", "uid", 2, 0, outside, count, 1, outside, count]] if not user else \
        [["idmap", "uid", 1, 0, 1, 1]]
    r = Run("start", recs[:1] + bad + maps[1:] + recs[1:], user=user)
    state, line = r.until_ready()
    code, _, _ = r.finish()
    why = "EPERM newuidmap" if user else "EINVAL write /proc/"
    check(f"idmap records ({tag}): a refused map -> ERROR 1 idmap {why}",
          state == "ERROR" and line.startswith("ERROR 1 idmap " + why.split()[0])
          and why.split()[1] in line and code == 1, (line, code))
    r = Run("start", None, user=user, raw_plan=encode(
        recs[:1] + maps + [["namespaces", "pid,mnt"]] + recs[2:]))
    state, line = r.until_ready()
    r.finish()
    check(f"idmap records ({tag}): no user namespace -> ERROR idmap EINVAL",
          state == "ERROR" and " idmap EINVAL " in line, line)


class ZygoteRun(Run):
    """A helper forked by `igloo-helper zygote` for one connection: the plan
    goes first ("PLAN <length>"), then the sync lines on the same socket."""

    def __init__(self, address, records):
        plan = encode(records)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(address)
        self.sock.sendall(b"PLAN %d\n" % len(plan) + plan)
        self.f = self.sock.makefile("r")
        self.lines = []
        self.user = False

    def rest(self):
        while self.line() is not None:
            pass
        return self.lines


def zygote_test():
    """`igloo-helper zygote` (root: the connecting process must be its parent
    and of its uid): a helper per connection, its command line says start,
    its EXIT comes back; any other process is refused; EOF on fd 3 ends it."""
    ours, theirs = socket.socketpair()

    def setup():
        fd = os.dup(theirs.fileno())
        os.dup2(fd, 3)

    z = subprocess.Popen([HELPER, "zygote"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, pass_fds=(3,), preexec_fn=setup)
    children.append(z)
    theirs.close()
    hello = ours.makefile("r").readline()
    check("zygote: says its address", hello.startswith("ZYGOTE igloo-zygote-"), hello)
    address = b"\0" + hello.split()[1].encode().ljust(107, b"\0")
    r = ZygoteRun(address, container_plan(cmd="sleep 0.3; exit 4"))
    state, _ = r.until_ready()
    try:
        kids = open(f"/proc/{z.pid}/task/{z.pid}/children").read().split()
        argv = open(f"/proc/{kids[0]}/cmdline", "rb").read().split(b"\0")
    except (OSError, IndexError) as e:
        argv = [str(e).encode()]
    lines = r.rest()
    check("zygote: a forked helper runs the plan, EXIT comes back",
          state == "READY" and "EXIT exited 4" in lines, lines)
    check("zygote: the forked helper's command line says start",
          argv[1:2] == [b"start"], argv)
    probe = subprocess.run(
        [sys.executable, "-c",
         "import socket,sys\n"
         "s=socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
         "s.connect(b'\\0' + sys.argv[1].encode().ljust(107, b'\\0'))\n"
         "s.settimeout(5)\n"
         # the zygote may close before the send (EPIPE) or after it,
         # with the bytes unread (ECONNRESET): both are the refusal
         "try:\n    s.sendall(b'PLAN 3\\nxyz')\n    print(repr(s.recv(100)))\n"
         "except (ConnectionResetError, BrokenPipeError):\n    print(repr(b''))\n",
         hello.split()[1]], capture_output=True, text=True)
    check("zygote: another process (not its parent) is refused",
          probe.stdout.strip() == "b''", (probe.stdout, probe.stderr))
    ours.close()
    try:
        code = z.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    check("zygote: EOF from its parent ends it, exit 0", code == 0, code)


def detached_test(user):
    rundir = os.path.join(WORK, "run-det")
    os.makedirs(rundir, exist_ok=True)
    if user:
        subprocess.run(["chown", USER, rundir], check=True)
    cmd = "echo hello-console; read x; echo got:$x; exit 7"
    r = Run("start", container_plan(mode="detached", console="pty", rundir=rundir, cmd=cmd),
            user=user, detached=True)
    state, pid = r.until_ready()
    check("detached: READY", state == "READY", (r.lines,))
    # the monitor closes fd 4 after READY
    check("detached: fd 4 closed after READY", r.line() is None, r.lines)
    sockpath = os.path.join(rundir, "console.sock")
    check("detached: console.sock exists, mode 0600",
          os.path.exists(sockpath) and (os.stat(sockpath).st_mode & 0o777) == 0o600)
    time.sleep(0.5)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sockpath)
    c.settimeout(5)
    buf = b""
    while b"hello-console" not in buf:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    check("detached: ring buffer replays output to a late client", b"hello-console" in buf, buf)
    c.sendall(b"abc\n")
    while b"got:abc" not in buf:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    check("detached: input relayed through the console", b"got:abc" in buf, buf)
    c.close()
    try:
        code = r.p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        code = None
    check("detached: monitor exits 0", code == 0, code)
    try:
        text = open(os.path.join(rundir, "exit")).read().split("\n")
    except OSError as e:
        text = [str(e)]
    check("detached: exit file 'exited 7' + epoch", text[0] == "exited 7" and
          text[1].isdigit() and abs(int(text[1]) - time.time()) < 60, text)
    check("detached: console.sock removed", not os.path.exists(sockpath))
    check("detached: no exit.tmp left", not os.path.exists(os.path.join(rundir, "exit.tmp")))


def exec_test(user):
    rundir = os.path.join(WORK, "run-exec")
    os.makedirs(rundir, exist_ok=True)
    if user:
        subprocess.run(["chown", USER, rundir], check=True)
    r = Run("start", container_plan(mode="detached", console="null", rundir=rundir,
                                    cmd="exec sleep 1000", hostname="target"),
            user=user, detached=True)
    state, pid = r.until_ready()
    check("exec: target container READY", state == "READY", r.lines)
    if state != "READY":
        return
    join = ["join", pid, "user,pid,mnt,uts,ipc,net"]
    cmd = "echo host=$(hostname); echo pid=$$; echo fds=$(ls /proc/self/fd | tr '\\n' ' '); exit 3"
    e = Run("exec", [["igloo-plan", 1], join, ["mode", "foreground"], ["console", "inherit"],
                     ["chdir", "/tmp"], ["rlimit", "RLIMIT_NOFILE", 512, 512], ["ids", 0, 0, 0],
                     exec_rec("/bin/sh", ["sh", "-c", cmd])], user=user)
    st, gpid = e.until_ready(mapped=False)
    code, out, err = e.finish()
    check("exec: READY, and no PID line", st == "READY" and e.lines[0].startswith("READY "),
          (e.lines, err))
    check("exec: exit code 3 propagated", code == 3 and "EXIT exited 3" in e.lines,
          (code, e.lines, err))
    check("exec: in the container's uts ns", "host=target" in out, out)
    check("exec: no stray fds (ls sees 0 1 2 + its own 3)", "fds=0 1 2 3" in out, out)
    check("exec: in the container's pid ns (pid != 1, small)",
          "pid=" in out and out.split("pid=")[1].split()[0] not in ("1", str(gpid)), (out, gpid))
    # with a pty: the process gets a terminal from the container's devpts
    e2 = Run("exec", [["igloo-plan", 1], join, ["console", "pty"], ["ids", 0, 0, 0],
                      exec_rec("/bin/sh", ["sh", "-c", "tty; exit 5"])], user=user)
    st2, _ = e2.until_ready(mapped=False)
    code2, out2, err2 = e2.finish()
    check("exec pty: tty is /dev/pts/0 and exit 5", st2 == "READY" and code2 == 5 and
          "/dev/pts/0" in out2, (code2, out2, e2.lines, err2))
    # killed by a signal: forwarded SIGTERM to a process that does not catch it
    e3 = Run("exec", [["igloo-plan", 1], join, ["ids", 0, 0, 0],
                      exec_rec("/bin/sleep", ["sleep", "100"])], user=user)
    st3, _ = e3.until_ready(mapped=False)
    time.sleep(0.3)
    e3.p.send_signal(15)
    code3, _, err3 = e3.finish()
    check("exec: SIGTERM forwarded, 128+15 and EXIT signaled SIGTERM",
          code3 == 143 and "EXIT signaled SIGTERM" in e3.lines, (code3, e3.lines, err3))
    # exec error: missing binary
    e4 = Run("exec", [["igloo-plan", 1], join, ["ids", 0, 0, 0],
                      exec_rec("/bin/nope", ["nope"])], user=user)
    st4, line4 = e4.until_ready(mapped=False)
    code4, _, _ = e4.finish()
    check("exec: missing binary -> ERROR 3 exec ENOENT", st4 == "ERROR" and
          line4.startswith("ERROR 3 exec ENOENT ") and code4 == 1, (line4, code4))
    # stop the container: the monitor records the signal
    os.kill(pid, 9)
    try:
        mcode = r.p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        mcode = None
    text = open(os.path.join(rundir, "exit")).read().split("\n") if os.path.exists(
        os.path.join(rundir, "exit")) else []
    check("exec: killed init -> exit file 'signaled SIGKILL'", mcode == 0 and text[:1] == ["signaled SIGKILL"],
          (mcode, text))


def error_tests(user):
    # missing binary at start
    r = Run("start", container_plan(cmd=None)[:-1] + [exec_rec("/bin/missing", ["missing"])],
            user=user)
    state, line = r.until_ready()
    code, out, err = r.finish()
    idx = len(container_plan()) - 1
    check("error: missing binary -> ERROR exec ENOENT",
          state == "ERROR" and line.startswith(f"ERROR {idx} exec ENOENT exec /bin/missing:") and code == 1,
          (line, code, err))
    # symlink to /etc in the rootfs used as a mount target and as a mkdir path
    evil = os.path.join(ROOTFS, "evil")
    if not os.path.islink(evil):
        os.symlink("/etc", evil)
    hostmark = "/etc/igloo-smoke-marker"
    recs = container_plan(cmd="grep ' /etc ' /proc/self/mountinfo; ls -d /etc/igloo-smoke-marker",
                          extra=[["mkdir", "/evil/igloo-smoke-marker", "0755"],
                                 ["mount", "tmpfs", "/evil", "tmpfs", MS_NOSUID, "mode=700"]])
    r = Run("start", recs, user=user)
    state, _ = r.until_ready()
    code, out, err = r.finish()
    check("error: symlink /evil -> /etc: mkdir landed in the rootfs, not the host",
          not os.path.exists(hostmark) and os.path.isdir(os.path.join(ROOTFS, "etc/igloo-smoke-marker")),
          (out, err))
    check("error: symlink /evil -> /etc: tmpfs mounted on the rootfs's /etc",
          state == "READY" and " /etc " in out and "tmpfs" in out, (out, r.lines, err))
    # a dangling symlink to a host path is not created through
    dang = os.path.join(ROOTFS, "dangle")
    if not os.path.islink(dang):
        os.symlink("/igloo-smoke-nowhere/x", dang)
    recs = container_plan(extra=[["mount", "tmpfs", "/dangle", "tmpfs", 0, ""]])
    r = Run("start", recs, user=user)
    state, line = r.until_ready()
    r.finish()
    check("error: dangling symlink target -> ERROR mount ENOENT, nothing created on host",
          state == "ERROR" and " mount ENOENT " in line and not os.path.exists("/igloo-smoke-nowhere"),
          line)
    # unknown op
    r = Run("start", None, user=user, raw_plan=encode([["igloo-plan", 1], ["bogus", "x"]]))
    state, line = r.until_ready()
    code, _, _ = r.finish()
    check("error: unknown op -> ERROR 1 bogus EINVAL", state == "ERROR" and
          line.startswith("ERROR 1 bogus EINVAL") and code == 1, (line, code))
    # ABORT before MAPPED
    r = Run("start", container_plan(), user=user)
    ln = r.line()
    r.sock.sendall(b"ABORT\n")
    code, _, _ = r.finish()
    pid = int(ln.split()[1]) if ln and ln.startswith("PID ") else 0
    check("error: ABORT kills the child, exit 1",
          code == 1 and pid and not os.path.exists(f"/proc/{pid}/status"), (ln, code))


def main():
    which = sys.argv[4:] or ["root", "user"]
    v = subprocess.run([HELPER, "--version"], capture_output=True, text=True)
    check("--version", v.stdout == "igloo-helper 1\n", v.stdout)
    for who in which:
        user = who == "user"
        print(f"== as {'unprivileged ' + USER if user else 'root'} ==")
        foreground_test(f"foreground ({who})", user)
        pty_foreground_test(user)
        core_plan_test(user)
        idmap_records_test(user)
        if not user:
            zygote_test()
        hardening_test(user)
        if not user:
            no_userns_test()
        detached_test(user)
        exec_test(user)
        error_tests(user)
    print(f"\n{len(PASSED)} passed, {len(FAILED)} failed")
    for n in FAILED:
        print("  failed: " + n)
    return 1 if FAILED else 0


def cleanup():
    """Kill the containers first (their monitors then reap them and exit),
    then any helper still running; wait for all, so nothing is left to the
    host's pid 1 (which does not reap here)."""
    pidfile = os.path.join(WORK, "pids")
    if os.path.exists(pidfile):
        for ln in open(pidfile):
            try:
                os.kill(int(ln), signal.SIGKILL)
            except (ValueError, OSError):
                pass
    for p in children:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = 1
    try:
        rc = main()
    finally:
        cleanup()
    sys.exit(rc)
