#!/usr/bin/env python3
"""
ttyshell: an interactive host shell on a real pty, as a user would have one,
for the TIOCSTI test (node cannot open a pty). The shell (`sh -i`, as USER:
`root` or UID:GID through setpriv) has the pty's slave as its controlling
terminal and stdio; this script plays the keyboard on the master:

  ttyshell.py USER COMMAND

types COMMAND and Enter, waits for `TIOCSTI-DONE` and the next prompt, then
types `echo END-$((6*7))` and waits for `END-42`: anything a container pushed
into this terminal's input queue while COMMAND ran was read (and run) by the
shell before that. Then `exit`. Prints the transcript; exits 0 when every
step was seen, 1 on a timeout (30 s per step), never hangs.
"""
import os
import pty
import select
import signal
import sys
import time

user, command = sys.argv[1], sys.argv[2]
pid, master = pty.fork()
if pid == 0:
    os.environ["PS1"] = "ttyshell$ "
    if user == "root":
        os.execvp("sh", ["sh", "-i"])
    uid, gid = user.split(":")
    os.execvp(
        "setpriv",
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", "sh", "-i"],
    )

out = b""


def wait_for(marker: bytes, start: int) -> int:
    global out
    deadline = time.monotonic() + 30
    while True:
        i = out.find(marker, start)
        if i >= 0:
            return i + len(marker)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(marker.decode())
        r, _, _ = select.select([master], [], [], left)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                raise TimeoutError(marker.decode() + " (the shell is gone)")
            out += data


status = 0
try:
    at = wait_for(b"ttyshell$ ", 0)
    os.write(master, command.encode() + b"\n")
    at = wait_for(b"TIOCSTI-DONE", at)
    at = wait_for(b"ttyshell$ ", at)
    os.write(master, b"echo END-$((6*7))\n")
    at = wait_for(b"END-42", at)
    os.write(master, b"exit\n")
except TimeoutError as e:
    sys.stdout.write(f"ttyshell: timed out waiting for {e}\n")
    status = 1
finally:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(status)
