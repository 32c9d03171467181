"""Raw user-mode attach times for bench/net.ts, run as the bench user.

For each round: a fresh user+network namespace (unshare -U -r -n), then
  slirp4netns: from spawn until it writes its --ready-fd (igloo's flags)
  pasta:       from spawn until `pasta --config-net` returns (configured, daemonized)
Prints one JSON object: {"slirp4netns": [ms...], "pasta": [ms...], "errors": [...]}.
Only namespaces this script made are touched; no traffic is sent.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from netns_holder import namespace

rounds = int(sys.argv[1])
out = {"slirp4netns": [], "pasta": [], "errors": []}


def slirp(pid):
    r, w = os.pipe()
    t = time.perf_counter()
    p = subprocess.Popen(
        ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
         "--enable-seccomp", f"--ready-fd={w}", str(pid), "eth0"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(w)
    got = os.read(r, 1)
    ms = (time.perf_counter() - t) * 1000
    os.close(r)
    p.kill()
    p.wait()
    if got != b"1":
        raise RuntimeError("slirp4netns was not ready")
    return ms


def pasta(pid):
    with tempfile.TemporaryDirectory() as d:
        pidfile = os.path.join(d, "pid")
        t = time.perf_counter()
        r = subprocess.run(
            ["pasta", "--config-net", "-t", "none", "-u", "none", "-T", "none", "-U", "none",
             "--no-map-gw", "-P", pidfile, str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        ms = (time.perf_counter() - t) * 1000
        try:
            os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        if r.returncode != 0:
            raise RuntimeError("pasta: " + r.stderr.decode(errors="replace")[-200:])
        return ms


for _ in range(rounds):
    for name, attach in (("slirp4netns", slirp), ("pasta", pasta)):
        ns = namespace()
        try:
            out[name].append(attach(ns.pid))
        except Exception as e:  # reported, never a number
            out["errors"].append(f"{name}: {e}")
        finally:
            ns.kill()
            ns.wait()
print(json.dumps(out))
