"""`reglab up`'s workers: started, watched, restarted when they exit or die, stopped in order.

A thread beside the server looks at each worker process a few times a second. One that exits or
dies is started again at once, and its runs go back to the queue at once (its process is gone:
no need to wait for its heartbeat to go stale). One that keeps crashing soon after it starts is
restarted with a growing delay, and after GIVE_UP_AFTER such crashes in a row no more: the reason
goes to this process's log and, through its `Supervisor` row, to the page.

Workers run in their own sessions (Ctrl-C reaches only this process, which stops them in order)
and stop by themselves when this process is gone (`--parent`), so none is left behind.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from typing import IO

import click

from store import procs, queue
from store.engine import get_engine
from store.models import Supervisor as SupervisorRow
from store.settings import Settings

log = logging.getLogger("reglab.up")

WORKER_STOP_GRACE_S = 15  # a stopping worker finishes its batch and commits; then it is killed
TICK_S = 0.2  # how often each worker process is looked at
RESTART_DELAY_S = 0.5  # before the first restart; doubled for each quick crash in a row
STABLE_S = 30.0  # a worker that crashes sooner after it started counts as crashing at start-up
GIVE_UP_AFTER = 5  # quick crashes in a row, after which it is not started again
LAST_WORDS = 20  # lines of a worker's stderr kept to say why it crashed


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Slot:
    """One of the worker processes `reglab up` keeps running."""

    def __init__(self, number: int):
        self.number = number
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.started = 0.0
        self.quick_crashes = 0  # crashes in a row, each within STABLE_S of its start
        self.restart_at: float | None = None
        self.gave_up: str | None = None
        self.last_words: deque[str] = deque(maxlen=LAST_WORDS)


def _forward(pipe: IO[bytes], last_words: deque[str]) -> None:
    """A worker's stderr (its log) goes on to ours; its last lines are kept to say why it died."""
    out = sys.stderr.buffer
    for line in iter(pipe.readline, b""):
        last_words.append(line.decode(errors="replace").rstrip())
        try:
            out.write(line)
            out.flush()
        except (OSError, ValueError):  # our stderr is closed: keep reading, so it never blocks
            pass
    pipe.close()


class WorkerSupervisor:
    def __init__(self, settings: Settings, n_workers: int, argv: list[str]):
        self.settings = settings
        self.engine = get_engine(settings.db_url)
        self.argv = argv
        self.slots = [_Slot(i + 1) for i in range(n_workers)]
        self.lock = threading.Lock()  # no worker starts once stopping is set
        self.stopping = threading.Event()
        self.crash_restarts = self.exit_restarts = 0
        host, pid = socket.gethostname(), os.getpid()
        self.row = SupervisorRow(
            id=f"{host}-{pid}-{uuid.uuid4().hex[:6]}",
            host=host,
            pid=pid,
            node=procs.node(),
            pid_start=procs.start_ticks(pid),
            workers=n_workers,
        )
        self.thread = threading.Thread(target=self._watch, name="reglab-supervisor", daemon=True)

    def start(self) -> None:
        if not self.slots:
            return
        for slot in self.slots:
            self._spawn(slot)
        self._beat()
        self.thread.start()

    def _spawn(self, slot: _Slot) -> None:
        with self.lock:
            if self.stopping.is_set():
                return
            slot.last_words.clear()
            slot.proc = subprocess.Popen(self.argv, start_new_session=True, stderr=subprocess.PIPE)
            slot.started, slot.restart_at = time.monotonic(), None
            slot.reader = threading.Thread(
                target=_forward,
                args=(slot.proc.stderr, slot.last_words),
                name=f"worker-{slot.number}-stderr",
                daemon=True,
            )
            slot.reader.start()

    def _watch(self) -> None:
        last_beat = time.monotonic()
        while not self.stopping.wait(TICK_S):
            for slot in self.slots:
                try:
                    if slot.proc is not None and slot.proc.poll() is not None:
                        self._ended(slot)
                    if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                        self._spawn(slot)
                except Exception:  # a failed start (out of processes...) is tried again
                    log.exception("supervising worker %s failed; retrying", slot.number)
                    if slot.proc is None and slot.gave_up is None:
                        slot.restart_at = time.monotonic() + RESTART_DELAY_S
            if time.monotonic() - last_beat >= self.settings.heartbeat_interval:
                last_beat = time.monotonic()
                self._beat()

    def _beat(self) -> None:
        self.row.restarts = self.crash_restarts + self.exit_restarts
        given_up = [s.gave_up for s in self.slots if s.gave_up]
        self.row.gave_up = " ".join(given_up) or None
        try:
            queue.beat_supervisor(self.engine, self.row)
        except Exception:  # the database may be back at the next beat
            log.exception("could not record the workers' state")

    def _ended(self, slot: _Slot) -> None:
        proc, slot.proc = slot.proc, None
        if self.stopping.is_set():
            return
        if slot.reader is not None:
            slot.reader.join(timeout=2)  # its last lines, to say why
        ran = time.monotonic() - slot.started
        ending = how_it_ended(proc.returncode)
        try:  # its runs go back to the queue now: the restarted worker resumes them
            taken = queue.requeue_dead(self.engine, self.settings.max_attempts)
        except Exception:
            log.exception("could not take back the runs of a dead worker")
            taken = []
        runs = f"; {plural(len(taken), 'run')} back to the queue" if taken else ""
        what = f"worker {slot.number} (pid {proc.pid}) {ending} after {ran:.0f} s{runs}"
        crashed = proc.returncode != 0
        slot.quick_crashes = slot.quick_crashes + 1 if crashed and ran < STABLE_S else 0
        if slot.quick_crashes >= GIVE_UP_AFTER:
            said = next((w for w in reversed(slot.last_words) if w.strip()), "")
            slot.gave_up = (
                f"reglab up gave up on worker {slot.number}: it crashed "
                f"{slot.quick_crashes} times in a row within {STABLE_S:g} s of starting "
                f"(it {ending})" + (f"; its last words: {said}" if said else "") + "."
            )
            click.echo(f"reglab: {what}. {slot.gave_up} Fix the cause and restart it.", err=True)
            self._beat()
            return
        delay = RESTART_DELAY_S * 2 ** max(slot.quick_crashes - 1, 0)
        click.echo(f"reglab: {what}; restarting it in {delay:g} s", err=True)
        if crashed:
            self.crash_restarts += 1
        else:
            self.exit_restarts += 1
        slot.restart_at = time.monotonic() + delay

    def stop(self) -> str:
        """Stop restarting, stop the workers in order; what happened, in a few words."""
        with self.lock:
            self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        running = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        killed = stop_workers(running)
        try:
            queue.deregister_supervisor(self.engine, self.row.id)
        except Exception:
            log.exception("could not remove the supervisor's row")
        said = [plural(len(running) - killed, "worker") + " stopped"]
        if not running:
            said = ["no worker was running"]
        if killed:
            said.append(f"{killed} killed after {WORKER_STOP_GRACE_S} s (did not stop in time)")
        if n := self.crash_restarts:
            said.append(f"{plural(n, 'restart')} after {'a crash' if n == 1 else 'crashes'}")
        if n := self.exit_restarts:
            said.append(f"{plural(n, 'restart')} after a worker exited by itself")
        if gave_up := sum(1 for s in self.slots if s.gave_up):
            said.append(f"gave up on {plural(gave_up, 'worker')} that kept crashing")
        return "; ".join(said)


def stop_workers(workers: list[subprocess.Popen]) -> int:
    """SIGTERM: each finishes its batch, commits its epochs and gives its runs back to the queue.
    One still running after WORKER_STOP_GRACE_S is killed. Returns how many were."""
    for p in workers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline, killed = time.monotonic() + WORKER_STOP_GRACE_S, 0
    for p in workers:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            killed += 1
    return killed
