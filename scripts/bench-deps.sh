#!/bin/sh
# Installs the benchmark's anchors from Debian (bookworm): crun, runc, lxc,
# podman (with conmon), bubblewrap, hyperfine, plus uidmap and busybox-static
# that igloo itself uses. Packages the archive does not have are reported and
# skipped; the benchmark then marks that anchor unavailable with the reason.
# Idempotent: does nothing when every tool is already on the PATH.
set -u
need=""
have() { command -v "$1" >/dev/null 2>&1; }
have crun || need="$need crun"
have runc || need="$need runc"
have lxc-execute || need="$need lxc"
have podman || need="$need podman"
have conmon || need="$need conmon"
have bwrap || need="$need bubblewrap"
have hyperfine || need="$need hyperfine"
have newuidmap || need="$need uidmap"
[ -x /bin/busybox ] || need="$need busybox-static"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-deps: missing:$need (run as root to install them)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || echo "bench-deps: apt-get update failed" >&2
for pkg in $need; do
  if apt-cache show "$pkg" >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 ||
      echo "bench-deps: apt-get install $pkg failed" >&2
  else
    echo "bench-deps: $pkg is not in this host's archive" >&2
  fi
done
exit 0
