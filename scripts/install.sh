#!/usr/bin/env bash
# Installs igloo on a Debian/Ubuntu host, as root: the host tools igloo uses,
# the npm dependencies, the build (bundle + native helper), `igloo` on PATH,
# and a block of subordinate ids for the user who ran sudo (and for root).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo ./scripts/install.sh): it installs packages and edits /etc/subuid" >&2
  exit 1
fi

# Host tools: newuidmap/newgidmap (uidmap), the static busybox the default
# image is built from, a C compiler (and musl, for a small monitor) for the helper, setpriv/su (util-linux,
# login), ps (procps), ip (iproute2), debootstrap for Debian images, and
# podman, which the tests use to save image archives as users make them;
# getfattr/getcap (attr, libcap2-bin), with which the tests check that
# extended attributes and file capabilities survive import, copy and shift;
# python3, which drives the helper's smoke test and the tests' ptys; zsh, whose
# completion script the CLI tests check.
packages=(uidmap busybox-static gcc libc6-dev musl-tools make util-linux procps iproute2 passwd login debootstrap debian-archive-keyring podman attr libcap2-bin python3 zsh)
packages+=(lintian)  # checks the Debian package igloo builds (npm run package:deb, test/integration/package.test.ts)
packages+=(slirp4netns passt iperf3)  # user-mode networking (docs/network.md): slirp4netns runs it, passt/pasta and iperf3 for the side-by-side bench
packages+=(lxc nftables)  # bridge mode: lxc-user-nic (setuid, the quota in /etc/lxc/lxc-usernet) for users, nft for NAT and anti-spoofing
packages+=(skopeo docker-registry)  # igloo image pull/push speak to registries through skopeo; the tests serve a registry on the loopback
packages+=(chromium)  # igloo serve's browser tests (test/browser), driven by puppeteer-core: no browser download
packages+=(containerd runc crun)  # engines driving igloo-runc (docs/oci.md): containerd, ctr and its runc shim for test/integration/oci-containerd.test.ts; runc and crun side by side in bench/oci.ts
packages+=(clang)  # the native fuzzers (scripts/fuzz-native.sh: libFuzzer, ASan, UBSan), run by test/integration/fuzz-native.test.ts
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# /dev/net/tun open to every user, as Debian's udev rule makes it (no udev here): user-mode
# networking opens it inside the container's namespaces; making a tap still needs
# CAP_NET_ADMIN over that namespace, so the open alone gives nothing (docs/network.md).
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200; } || true
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then chmod 0666 /dev/net/tun; fi

# criu >= 4.1 for checkpoint/restore (a private copy from Debian trixie when the host's is older)
bash scripts/install-criu.sh || echo "install.sh: criu unavailable: checkpoint/restore disabled" >&2

command -v node >/dev/null || { echo "install.sh: Node.js 20 or newer is required (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm run -s build
ln -sf "$PWD/dist/bin/igloo" /usr/local/bin/igloo
ln -sf "$PWD/dist/bin/igloo-runc" /usr/local/bin/igloo-runc  # the OCI runtime (igloo oci), for podman and containerd

# A block of ids for root and for the user who called sudo, unless they have one.
for user in root ${SUDO_USER:-}; do
  if ! grep -qE "^($user|$(id -u "$user")):" /etc/subuid 2>/dev/null; then
    igloo subid grant "$user" --count 1000000
  fi
done
igloo check || true
