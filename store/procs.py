"""Whether a process recorded in the database is still running, when it ran beside us.

A worker row records its pid, the node it ran on and its process's start time. On the same node
(one kernel boot, one pid namespace: there a pid names the same process for everyone) a reader
can tell at once that the process is gone, instead of waiting for its heartbeat to go stale. The
start time tells the worker's process from a later one the kernel gave the same pid.

Linux only (/proc); elsewhere node() is None, nothing is judged this way and the stall timeout
alone applies.
"""

import os
from functools import cache
from pathlib import Path

PROC = Path("/proc")


@cache
def node() -> str | None:
    """This kernel boot and pid namespace, or None where /proc does not tell (not Linux).

    Two containers on one machine share the boot id but not the pid namespace, so their pids
    are not compared; a host name alone could not tell them apart. None too when /proc is not
    this process's pid namespace's (mounted for another one: `unshare --pid` without
    `--mount-proc`, some sandboxes), where /proc/self names another pid than ours: there our
    pids would be read in a table of other processes, and a live worker judged gone."""
    try:
        if os.readlink(PROC / "self") != str(os.getpid()):
            return None
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(PROC / "self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) from /proc/<pid>/stat; None if unreadable."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The fields after the command name, which may itself hold spaces and parentheses.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime) of stat


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot), recorded beside its pid."""
    stat = _stat(pid)
    return stat[1] if stat else None


def gone(node_id: str | None, pid: int, started: int | None) -> bool:
    """True when the process is known to have ended: it ran on this node, and no process with its
    pid and start time runs now (none has that pid, the one that has it started later, or it is
    a zombie: ended, not yet reaped). False when it runs, and when this cannot be told here
    (another node, no record of where it ran, a process /proc hides from us)."""
    if node_id is None or started is None or node_id != node():
        return False
    stat = _stat(pid)
    if stat is not None:
        state, ticks = stat
        return state in ("Z", "X") or ticks != started
    try:  # no /proc entry we can read: ask the kernel whether the pid exists at all
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's, hidden from us (hidepid): cannot tell
        return False
    return False
