#!/usr/bin/env bash
# Provides a criu that works on this kernel, as root. Safe to run again.
#
# - criu on PATH that is new enough: nothing to do. Kernels >= 6.13 need
#   criu >= 4.1 (a [vvar_vclock] mapping older criu refuses: "Unexpected rt
#   vDSO area"); kernels >= 6.16 need criu >= 4.2 (4.1 cannot dump a TCP
#   socket there: "Can't get 1:16 opt: Operation not supported").
# - otherwise: Debian's criu from SUITE (default forky: 4.2.x), unpacked
#   into a private prefix (default /opt/igloo/criu) with its own libraries
#   and its own loader, so nothing from that suite is installed on the host.
#   A private apt configuration names the suite on the mirror the host
#   already uses; `apt-cache depends --recurse` lists what criu needs,
#   `apt-get download` fetches it, `dpkg-deb -x` unpacks each package into
#   PREFIX/root, and PREFIX/bin/criu execs that loader with --library-path.
#   An older criu in PREFIX is replaced.
#
# Usage: scripts/install-criu.sh [--prefix DIR] [--suite S] [--force]
set -euo pipefail

prefix=/opt/igloo/criu
force=0
suite=forky
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --suite) suite="$2"; shift 2 ;;
    *) echo "install-criu.sh: unknown option $1 (usage: install-criu.sh [--prefix DIR] [--suite S] [--force])" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install-criu.sh: run as root: it writes $prefix" >&2
  exit 1
fi

# The criu this kernel needs: 4.1 from 6.13 on ([vvar_vclock]), 4.2 from
# 6.16 on (the kernel refuses SO_PASSCRED/SO_PASSSEC on TCP sockets and
# criu 4.1 fails the dump of any TCP socket: "Can't get 1:16 opt").
kernel="$(uname -r)"
kmajor="${kernel%%.*}"; kminor="${kernel#*.}"; kminor="${kminor%%[!0-9]*}"
need_minor=1
if [ "$kmajor" -gt 6 ] || { [ "$kmajor" -eq 6 ] && [ "$kminor" -ge 16 ]; }; then need_minor=2; fi

# "4.2.1" -> succeeds when >= 4.$need_minor
new_enough() {
  local v major minor
  v="$("$1" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -1)"
  [ -n "$v" ] || return 1
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -ge "$need_minor" ]; }
}

if [ "$force" = 0 ] && path="$(command -v criu)" && new_enough "$path"; then
  echo "install-criu.sh: using $path ($("$path" --version | sed -n 's/^Version: *//p'))"
  exit 0
fi
if [ "$force" = 0 ] && [ -x "$prefix/bin/criu" ] && new_enough "$prefix/bin/criu"; then
  echo "install-criu.sh: $prefix/bin/criu is installed already ($("$prefix/bin/criu" --version | sed -n 's/^Version: *//p'))"
  exit 0
fi

arch="$(dpkg --print-architecture)"
case "$arch" in
  amd64) triplet=x86_64-linux-gnu; loader=ld-linux-x86-64.so.2 ;;
  arm64) triplet=aarch64-linux-gnu; loader=ld-linux-aarch64.so.1 ;;
  *) echo "install-criu.sh: architecture $arch is not supported; install criu >= 4.1 yourself" >&2; exit 1 ;;
esac

# The host's Debian mirror (deb822 or one-line sources), deb.debian.org if none.
mirror="$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } |
    grep -E '/debian/?$' | grep -v security | head -1
)" || true
mirror="${mirror:-http://deb.debian.org/debian}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || {
  echo "install-criu.sh: the Debian 13 archive key (it signs $suite too) is missing: apt-get install debian-archive-keyring (2023.3+deb12u1 or newer)" >&2
  exit 1
}

work="$(mktemp -d /tmp/igloo-criu.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/etc/preferences.d"
: >"$work/status"
cat >"$work/sources.list" <<EOF
deb [signed-by=$keyring] $mirror $suite main
EOF
cat >"$work/apt.conf" <<EOF
Dir::Etc::SourceList "$work/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::Etc::Preferences "/nonexistent";
Dir::Etc::PreferencesParts "$work/etc/preferences.d";
Dir::State "$work";
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Get::AllowUnauthenticated "false";
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$work/apt.conf"

echo "install-criu.sh: reading $suite's package lists from $mirror"
apt-get update -qq -o APT::Update::Error-Mode=any >/dev/null
pkgs="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances criu | grep -E '^[a-z0-9]' | grep -v '^<' | sort -u)"
echo "install-criu.sh: downloading criu and $(($(wc -w <<<"$pkgs") - 1)) packages it needs"
(cd "$work/debs" && apt-get download -qq $pkgs >/dev/null)

# Unpack into a new directory and swap it in, so a failure leaves the old one.
mkdir -p "$(dirname "$prefix")"
new="$prefix.new"
rm -rf "$new"
mkdir -p "$new/root" "$new/bin"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$new/root"; done
libdir="$prefix/root/usr/lib/$triplet"
[ -x "$new/root/usr/sbin/criu" ] && [ -e "$new/root/usr/lib/$triplet/$loader" ] || {
  echo "install-criu.sh: criu or the loader is missing from the unpacked packages" >&2
  exit 1
}
cat >"$new/bin/criu" <<EOF
#!/bin/sh
# criu from Debian $suite, run with its own loader and libraries (scripts/install-criu.sh).
exec $libdir/$loader --library-path $libdir:$prefix/root/lib/$triplet $prefix/root/usr/sbin/criu "\$@"
EOF
chmod 755 "$new/bin/criu"
ls "$work/debs" >"$new/packages"
rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$new" "$prefix"
rm -rf "$prefix.old"

if ! new_enough "$prefix/bin/criu"; then
  echo "install-criu.sh: $prefix/bin/criu does not run (criu --version failed)" >&2
  exit 1
fi
echo "install-criu.sh: installed $prefix/bin/criu ($("$prefix/bin/criu" --version | sed -n 's/^Version: *//p'))"
"$prefix/bin/criu" check 2>&1 | tail -1 | sed 's/^/install-criu.sh: criu check: /' || true
