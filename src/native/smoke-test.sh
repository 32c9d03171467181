#!/bin/bash
# C-level smoke test of igloo-helper. Run as root:  src/native/smoke-test.sh [root|user]...
#
# Builds the helper into a temp dir, makes a busybox rootfs, creates a test
# user `igloo-smoke` with a delegated range (/etc/subuid, /etc/subgid), and
# drives the helper with smoke-test.py (which plays the TypeScript side of
# PROTOCOL.md) as root and as that user. Everything it creates is removed on
# exit, also on failure.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
USER_NAME=igloo-smoke
RANGE_START=2000000
RANGE_LEN=65536
BUSYBOX=/usr/bin/busybox
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

if [ "$(id -u)" != 0 ]; then
	echo "smoke-test.sh: run as root (it creates a test user)" >&2
	exit 2
fi
for tool in "$BUSYBOX" newuidmap newgidmap setpriv useradd userdel; do
	command -v "$tool" >/dev/null || { echo "smoke-test.sh: $tool is missing" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/igloo-smoke.XXXXXX)
CREATED_USER=0
DRIVER=

cleanup() {
	local rc=$?
	set +e
	if [ -n "${DRIVER:-}" ]; then
		kill -TERM "$DRIVER" 2>/dev/null && wait "$DRIVER" 2>/dev/null
	fi
	# processes the driver saw (PID/READY lines), by pid
	if [ -f "$WORK/pids" ]; then
		while read -r pid; do
			[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		done <"$WORK/pids"
	fi
	if [ "$CREATED_USER" = 1 ]; then
		sed -i "/^$USER_NAME:/d" /etc/subuid /etc/subgid
		userdel "$USER_NAME" 2>/dev/null
	fi
	rm -rf "$WORK"
	rm -rf /etc/igloo-smoke-marker 2>/dev/null # only if the test failed
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chmod 755 "$WORK"
make -s -C "$HERE" OUT="$WORK/bin"

# busybox rootfs, owned by the container's root (host uid RANGE_START)
R="$WORK/rootfs"
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/etc" "$R/tmp" "$R/mnt"
cp "$BUSYBOX" "$R/bin/busybox"
for app in sh cat ls id hostname sleep grep tr head wc touch tty echo; do
	ln -s busybox "$R/bin/$app"
done
echo "root:x:0:0:root:/:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
chown -R "$RANGE_START:$RANGE_START" "$R"
mkdir -p "$WORK/robind"

if id "$USER_NAME" >/dev/null 2>&1; then
	echo "smoke-test.sh: user $USER_NAME already exists; remove it first" >&2
	exit 2
fi
# -K ...=0: no automatic subordinate range, we add exactly ours
useradd -M -d /nonexistent -s /usr/sbin/nologin \
	-K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$USER_NAME"
CREATED_USER=1
echo "$USER_NAME:$RANGE_START:$RANGE_LEN" >>/etc/subuid
echo "$USER_NAME:$RANGE_START:$RANGE_LEN" >>/etc/subgid

# In the background so that a signal to this script runs the trap at once.
"$PYTHON" "$HERE/smoke-test.py" "$WORK/bin/igloo-helper" "$WORK" "$USER_NAME" "$@" &
DRIVER=$!
wait "$DRIVER"
