"""Ways of training measured in turns: each in its own process, one epoch at a time, never two at
once.

Whole runs back to back cannot resolve a few per cent on the machines this project runs on: the
development VMs switch between speeds for tens of seconds at a time (up to twofold, within a run),
so two 15-second runs next to each other often run at different speeds. In turns, the ways' epochs
alternate: the parent hands a turn to one process, which trains one epoch (and whatever its way
does after one) and hands it back, then to the next. Epochs compared are a second apart, and a
switch of speed spoils one pair of them, not a round. Each process has its own intra-op threads and
float mode, so ways that differ in process-wide settings (denormals) compare too. While a process
waits for its turn it sleeps on a pipe; its caches are cold when its turn comes, the other way's as
much.

A way is a function run in the child: `way(turn, *args)`. It prepares what it needs, calls
turn.begin() before its first epoch and turn.end() after each, and returns a picklable result.
The first turn goes out once every process has reached its first turn.begin(): what a way does
before it runs beside the others' set-up, what it does after it is timed.
"""

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class Turn:
    """The child's side: time from being handed the turn to handing it back."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.started = 0.0
        self.waited = 0.0  # seconds spent waiting for turns since begin(), all told

    def begin(self) -> None:
        """Wait until the parent hands this process the turn."""
        t = time.perf_counter()
        if not self.started:
            self.conn.send(("ready", None))  # set up: the turns may start
        self.conn.recv()
        self.started = time.perf_counter()
        self.waited += self.started - t

    def end(self) -> None:
        """Report this turn's duration, then wait for the next turn."""
        self.conn.send(("turn", time.perf_counter() - self.started))
        self.begin()


def _child(way: Callable[..., Any], args: tuple, conn: Connection) -> None:
    try:
        conn.send(("done", way(Turn(conn), *args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))


def _receive(conn: Connection, name: str) -> tuple[str, Any]:
    """The child's next message: ("ready" | "turn" | "done", value); a failure raised here."""
    kind, value = conn.recv()
    if kind == "error":
        raise RuntimeError(f"way {name!r} failed:\n{value}")
    return kind, value


def in_turns(ways: dict[str, tuple[Callable[..., Any], tuple]]) -> dict[str, tuple[list, Any]]:
    """Run each way in its own process, handing them turns in an order that reverses every time
    (ABBA...) until all have returned. Per way: the duration of each of its turns, and what it
    returned."""
    ctx = mp.get_context("spawn")  # a fresh interpreter: its threads start in its own mode
    conns, procs = {}, []
    for name, (way, args) in ways.items():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(way, args, child), daemon=True)
        proc.start()
        conns[name] = parent
        procs.append(proc)
    durations: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, Any] = {}
    names = list(ways)
    try:
        # No turn before every process has started and set up: a process importing torch beside
        # another's turn would slow that turn.
        for name in names:
            kind, value = _receive(conns[name], name)
            if kind == "done":
                results[name] = value
        turn = 0
        while len(results) < len(names):
            for name in names if turn % 2 == 0 else names[::-1]:
                if name in results:
                    continue
                conns[name].send(True)
                kind, value = _receive(conns[name], name)
                if kind == "done":
                    results[name] = value
                else:
                    durations[name].append(value)
            turn += 1
    finally:
        for conn in conns.values():
            conn.close()  # a way still waiting for a turn (another failed) gets EOFError and ends
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    return {name: (durations[name], results[name]) for name in names}
