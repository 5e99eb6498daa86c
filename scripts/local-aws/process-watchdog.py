"""Runs a command in its own process group and ends the whole group with it.

    python3 process-watchdog.py <parent-pid> <grace-seconds> -- <command> [args...]

Local AWS (MiniStack and the Lambda workers it forks) and the CDK CLI (with its synth and
esbuild children) must not outlive the Node process that started them, even when that process
is killed with SIGKILL (a test runner's timeout) and cannot clean up. So they run under this
watchdog, a group leader that:

- ends the group when the parent is gone: PR_SET_PDEATHSIG wakes it at once on Linux, and a
  poll of getppid() covers the rest (the signal is tied to the parent's thread, not process);
- ends the group on SIGTERM / SIGINT / SIGHUP (how the parent stops it on purpose);
- ends the group when the command exits, so no worker of a crashed emulator lingers.

"Ends" means SIGTERM to every process in the group, then SIGKILL to whatever is left after the
grace period. Lambda workers are plain children of MiniStack (no new session), so they are in
the group, and a worker orphaned by a killed emulator keeps its group. Only the standard library
is used, so any Python 3 runs it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


def group_members(pgid: int) -> list[int]:
    """Pids in the process group, the watchdog itself excluded."""
    me = os.getpid()
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces and parentheses).
        fields = stat[stat.rindex(b")") + 2 :].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def end_group(child: subprocess.Popen | None, grace: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pgid = os.getpgid(0)
    for pid in group_members(pgid):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()
        if not group_members(pgid):
            return
        time.sleep(0.1)
    for pid in group_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if child is not None:
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


def main() -> int:
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    parent = int(sys.argv[1])
    grace = float(sys.argv[2])
    command = sys.argv[4:]
    if os.getpgid(0) != os.getpid():
        os.setpgid(0, 0)

    stop_requested = False

    def request_stop(signum, _frame):
        nonlocal stop_requested
        # PR_SET_PDEATHSIG also fires when the parent's spawning *thread* ends; only a changed
        # parent pid means the parent process is gone.
        if signum != signal.SIGUSR1 or os.getppid() != parent:
            stop_requested = True

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, request_stop)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGUSR1)
    except (OSError, AttributeError):
        pass  # not Linux: the poll below still notices
    if os.getppid() != parent:
        return 1  # the parent died before the signal was armed: start nothing

    child = subprocess.Popen(command)
    while not stop_requested and child.poll() is None and os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    end_group(child, grace)
    code = child.poll()
    if code is None:
        return 1
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
