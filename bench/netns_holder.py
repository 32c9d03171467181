"""A fresh user and network namespace held by a sleeping process, for the
bench's user-mode scripts (net-attach.py, net-iperf.py), run as the bench
user. The namespaces exist once the process has printed "up"."""
import subprocess


def namespace():
    p = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", "echo up; exec sleep 600"],
        stdout=subprocess.PIPE,
    )
    p.stdout.readline()  # the namespaces exist once sh runs
    return p
