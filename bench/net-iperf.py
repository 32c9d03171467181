"""User-mode throughput for bench/net.ts, run as the bench user.

    python3 net-iperf.py ROUNDS SECONDS PORT IGLOO_INIT_PID

iperf3 (both directions: up = namespace to host, down = -R) between a
network namespace and an iperf3 server on the host's 127.0.0.1:PORT, the
variants interleaved round by round:
  igloo        the running igloo container (--net user,host-loopback) whose
               init is IGLOO_INIT_PID: igloo's slirp4netns, to 10.0.2.2
  slirp4netns  raw slirp4netns with igloo's flags (host loopback allowed)
               on a fresh unshare'd namespace, to 10.0.2.2
  pasta        raw pasta on a fresh namespace, its spliced loopback forward
               (-T PORT), to 127.0.0.1 inside
The client joins the namespace with nsenter --user --net (the host's
iperf3 binary, the namespace's network). Every connection ends on the
host's loopback (10.0.2.2 is slirp4netns's alias for it; pasta's -T splices
to it); nothing else is addressed. Prints one JSON object:
{"igloo": {"up": [Gb/s...], "down": [...]}, "slirp4netns": ..., "pasta": ..., "errors": [...]}.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from netns_holder import namespace

rounds, seconds, port, igloo_pid = (int(a) for a in sys.argv[1:5])
out = {k: {"up": [], "down": []} for k in ("igloo", "slirp4netns", "pasta")}
out["errors"] = []


def client(pid, addr, reverse):
    argv = ["nsenter", "--preserve-credentials", "-t", str(pid), "--user", "--net",
            "iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J"]
    if reverse:
        argv.append("-R")
    for _ in range(50):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode == 0:
            return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        time.sleep(0.1)  # the server busy with the last test's end, or the forward not up yet
    raise RuntimeError(f"iperf3 to {addr}: {(r.stdout + r.stderr)[-300:]}")


def both(name, pid, addr):
    out[name]["up"].append(client(pid, addr, False))
    out[name]["down"].append(client(pid, addr, True))


def slirp():
    ns = namespace()
    r, w = os.pipe()
    p = subprocess.Popen(
        ["slirp4netns", "--configure", "--mtu=65520", "--enable-seccomp",
         f"--ready-fd={w}", str(ns.pid), "eth0"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(w)
    try:
        if os.read(r, 1) != b"1":
            raise RuntimeError("slirp4netns was not ready")
        both("slirp4netns", ns.pid, "10.0.2.2")
    finally:
        os.close(r)
        p.kill()
        p.wait()
        ns.kill()
        ns.wait()


def pasta():
    ns = namespace()
    with tempfile.TemporaryDirectory() as d:
        pidfile = os.path.join(d, "pid")
        try:
            r = subprocess.run(
                ["pasta", "--config-net", "-t", "none", "-u", "none", "-T", str(port), "-U", "none",
                 "--no-map-gw", "-P", pidfile, str(ns.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if r.returncode != 0:
                raise RuntimeError("pasta: " + r.stderr.decode(errors="replace")[-200:])
            both("pasta", ns.pid, "127.0.0.1")
        finally:
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            ns.kill()
            ns.wait()


server = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(rounds):
        for name, run in (("igloo", lambda: both("igloo", igloo_pid, "10.0.2.2")),
                          ("slirp4netns", slirp), ("pasta", pasta)):
            try:
                run()
            except Exception as e:  # reported, never a number
                out["errors"].append(f"{name}: {e}")
finally:
    server.kill()
    server.wait()
print(json.dumps(out))
