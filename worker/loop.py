"""The worker process: register, claim, train with a heartbeat, finish; repeat.

- A watcher thread heartbeats the claim and looks for a cancel request four times a second.
- A writer thread commits each epoch (metrics, histograms and, when one is due, the resume
  checkpoint, in one transaction) while training goes on with the next one.
- SIGTERM or Ctrl-C stops training at the end of the current batch, commits what is finished,
  and gives the run back to the queue; another worker resumes it from its last committed epoch.
- A claim taken back (this worker was paused past the stall timeout) makes every later write a
  no-op; the worker drops the run and takes the next one.
"""

import logging
import math
import os
import queue as queues
import signal
import socket
import threading
import time
import traceback

import torch
from sqlalchemy.exc import OperationalError

from store import artifacts, procs, queue
from store.engine import get_engine
from store.models import RunStatus
from store.settings import Settings
from store.spec import TASK
from worker import checkpoint
from worker.config import TrainConfig
from worker.data import DatasetMissing
from worker.lockstep import group_limit, lockstep_key
from worker.train import (
    EpochReport,
    Stopped,
    describe,
    load_data,
    load_task,
    pick_device,
    train,
)

log = logging.getLogger("reglab.worker")

CANCEL_CHECK_S = 0.25  # how often a running arm looks for a cancel request
WRITE_RETRIES = 5  # a transient database error is retried, with backoff, before the run fails
# REGLAB_RESUME_EVERY=auto: the training time between resume checkpoints, as a multiple of the
# CPU time the last one took (its snapshot on the training thread, its commit on the writer's).
# Storing competes with training for the cores and the GIL, slowing it by a little more than
# its own CPU time, so 300 keeps resume checkpoints near 0.5 % of the time.
RESUME_COST_RATIO = 300
# ...and never closer than this, the first one included: a crash costs at most this much training
# beyond the spacing, and a run shorter than this keeps none (one after its first epoch, only to
# measure what it costs, was 1.5 % of a 16-epoch three-arm run here). The spacing never passes
# REGLAB_RESUME_MAX either, however costly a state is: a crash must not cost more training than
# that (or one epoch, where epochs take longer).
RESUME_MIN_S = 10.0


class ClaimLost(Exception):
    """The run was taken back from this worker; nothing more may be written for it."""


class _Watch(threading.Thread):
    """Heartbeats the claim and watches for a cancel request while the main thread trains."""

    def __init__(self, worker: "Worker", claims: list[queue.Claim]):
        super().__init__(daemon=True, name=f"watch-run-{claims[0].run_id}")
        self.worker, self.claims = worker, claims
        self.done = threading.Event()
        self.cancel = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        engine, s = self.worker.engine, self.worker.settings
        last_beat = time.monotonic()
        with queue.CancelCheck(engine, self.claims) as cancel_requested:
            while not self.done.wait(CANCEL_CHECK_S):
                if self.worker._orphaned():
                    self.worker.shutdown.set()  # stop training as on SIGTERM: the run is re-queued
                try:
                    if time.monotonic() - last_beat >= s.heartbeat_interval:
                        last_beat = time.monotonic()
                        if not queue.heartbeat(engine, self.claims, self.worker.id):
                            self.lost.set()
                            return
                    if cancel_requested():
                        self.cancel.set()
                except Exception:  # a transient database error must not kill the heartbeat
                    log.exception("heartbeat or cancel check failed; retrying")


class _Writer(threading.Thread):
    """Commits epochs in order, off the training thread: per epoch, every arm of the group in one
    transaction. At most two epochs wait, so training never runs far ahead of the database."""

    def __init__(self, worker: "Worker", claims: list[queue.Claim], lost: threading.Event):
        super().__init__(daemon=True, name=f"writer-run-{claims[0].run_id}")
        self.worker, self.claims, self.lost = worker, claims, lost
        self.pending: queues.Queue[list[EpochReport] | None] = queues.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.clock = time.monotonic
        self.last_state = self.last_epoch = self.clock()
        self.state_cost = 0.0  # CPU seconds the last resume checkpoint took to snapshot and commit
        self.epochs = TrainConfig.from_dict(claims[0].config).epochs

    def submit(self, reports: list[EpochReport]) -> None:
        if self.error is not None:
            raise self.error
        if self.lost.is_set():
            raise ClaimLost
        self.pending.put(reports)

    def close(self) -> None:
        """Wait until everything submitted is committed (or refused)."""
        self.pending.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        while (reports := self.pending.get()) is not None:
            try:
                if self.error is None and not self.lost.is_set():  # else drain: no more writes
                    self._commit(reports)
            except BaseException as e:  # surfaced to the training thread at its next submit
                self.error = e
            finally:
                self.pending.task_done()  # pending.join() waits for what was submitted so far

    def state_due(self, epoch: int) -> bool:
        """Whether to keep a resume checkpoint after this epoch. After the last epoch the run
        finishes instead; otherwise as REGLAB_RESUME_EVERY says: after every epoch (0), every so
        many seconds of training, or ('auto') once the training since the last one is
        RESUME_COST_RATIO times the CPU time that one took to snapshot and store, so that they
        take about 0.5 % of the time (after every one-second epoch they cost 8-20 %), and at
        least RESUME_MIN_S; but always soon enough that the training a crash loses stays within
        REGLAB_RESUME_MAX, or one epoch where an epoch takes longer. States are taken only at
        the end of an epoch, so one is due now when the next epoch, as long as this one, would
        end past that."""
        now = self.clock()
        epoch_s, self.last_epoch = now - self.last_epoch, now
        if epoch == self.epochs:
            return False
        settings = self.worker.settings
        every = settings.resume_every
        if every == "auto":
            if self.state_cost == math.inf:  # the last one is still being stored
                return False
            spacing = max(self.state_cost * RESUME_COST_RATIO, RESUME_MIN_S)
            every = min(spacing, settings.resume_max - epoch_s)
        if now - self.last_state < every:
            return False
        self.last_state = now
        self.state_cost = math.inf  # until it is stored: no second one while this one is queued
        return True

    def _commit(self, reports: list[EpochReport]) -> None:
        keep = reports[0].resume is not None
        # CPU time, not wall time: what storing takes from training is the processor (and the
        # GIL); waiting on the disk takes nothing from it. The training thread's snapshot
        # counts too.
        started = time.thread_time()
        rows = [
            queue.EpochRow(
                claim, r.epoch, r.metrics, r.layers, r.histograms, r.resume, r.view, r.points
            )
            for claim, r in zip(self.claims, reports, strict=True)
        ]
        for attempt in range(WRITE_RETRIES):
            try:
                ok = queue.write_epochs(self.worker.engine, rows)
                break
            except Exception:
                if attempt == WRITE_RETRIES - 1:
                    raise
                log.exception("writing epoch %s failed; retrying", reports[0].epoch)
                time.sleep(0.2 * 2**attempt)
        if not ok:
            self.lost.set()
        if keep:
            self.state_cost = time.thread_time() - started + sum(r.resume_s for r in reports)


class Worker:
    def __init__(self, settings: Settings, parent: int | None = None):
        self.settings = settings
        self.parent = parent  # `reglab up`'s pid: its workers must not outlive it
        self.engine = get_engine(settings.db_url)
        self.device = pick_device(settings.device)
        self.shutdown = threading.Event()
        self.id = ""

    def _orphaned(self) -> bool:
        return self.parent is not None and os.getppid() != self.parent

    def install_signal_handlers(self) -> None:
        def stop(signum, _frame):
            log.info("worker %s: %s received, stopping", self.id, signal.Signals(signum).name)
            self.shutdown.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _register(self) -> None:
        self.id = queue.register_worker(
            self.engine,
            socket.gethostname(),
            os.getpid(),
            describe(self.device),
            node=procs.node(),
            pid_start=procs.start_ticks(os.getpid()),
            worker_id=self.id or None,
        )

    def run_forever(self, max_runs: int | None = None, exit_when_idle: bool = False) -> int:
        self._register()
        log.info("worker %s ready on %s", self.id, describe(self.device))
        try:
            return self._loop(max_runs, exit_when_idle)
        finally:
            try:  # off the page's list of live workers at once; else pruned by the next sweep
                queue.deregister_worker(self.engine, self.id)
            except Exception:
                log.exception("worker %s: could not remove its row", self.id)

    def _loop(self, max_runs: int | None, exit_when_idle: bool) -> int:
        s = self.settings
        done, last_sweep, last_dead, last_beat = 0, 0.0, 0.0, time.monotonic()
        while not self.shutdown.is_set() and (max_runs is None or done < max_runs):
            if self._orphaned():
                log.info("worker %s: its parent process is gone; stopping", self.id)
                break
            try:
                now = time.monotonic()
                if now - last_sweep > s.stall_timeout / 3:
                    last_sweep = last_dead = now
                    queue.requeue_stalled(self.engine, s.stall_timeout, s.max_attempts)
                elif now - last_dead > queue.DEAD_SWEEP_S:
                    last_dead = now
                    queue.requeue_dead(self.engine, s.max_attempts)
                if now - last_beat >= s.heartbeat_interval:  # idle, yet alive: the page lists it
                    last_beat = now
                    if not queue.touch_worker(self.engine, self.id):
                        self._register()  # pruned while this process could not heartbeat
                # Look first, claim only what is there: an idle worker polls often (the issue
                # asks for a pickup within 100 ms), and a claim is a write transaction.
                queued = queue.has_queued(self.engine)
                claim = queue.claim_next(self.engine, self.id) if queued else None
            except OperationalError:  # the database is away or locked: wait, do not die
                log.exception("worker %s: the queue is unreachable; retrying", self.id)
                self.shutdown.wait(1.0)
                continue
            if claim is None:
                if exit_when_idle:
                    break
                self.shutdown.wait(s.poll_interval)
                continue
            done += self.process(claim)
            last_beat = time.monotonic()  # the watcher beat while it trained
        return done

    def _resume_state(self, claim: queue.Claim):
        if claim.attempt == 1:
            return None
        stored = queue.load_resume(self.engine, claim)
        if stored is None:
            return None
        try:
            return checkpoint.restore(stored[1])
        except Exception:  # an unreadable state costs the finished epochs, not the run
            log.exception("run %s: resume checkpoint unreadable; starting over", claim.run_id)
            return None

    def _group(self, claim: queue.Claim, resume) -> tuple[list[queue.Claim], list]:
        """The claimed run, plus queued arms of its experiment that can train with it in one
        computation (same architecture and settings, resumed from the same epoch)."""
        cfg = TrainConfig.from_dict(claim.config)
        key = lockstep_key(cfg)
        if key is None or not self.settings.lockstep:
            return [claim], [resume]
        epoch = resume["epoch"] if resume else 0
        room = group_limit(cfg, self.device, self.settings.max_group) - 1
        fits = [
            q.run_id
            for q in queue.queued_siblings(self.engine, claim)
            if lockstep_key(TrainConfig.from_dict(q.config)) == key and q.resume_epoch == epoch
        ][:room]
        claims = [claim] + (queue.claim_more(self.engine, self.id, claim, fits) if fits else [])
        states = [resume] + [self._resume_state(c) for c in claims[1:]]
        if any((s["epoch"] if s else 0) != epoch for s in states):  # changed meanwhile: alone
            for c in claims[1:]:
                queue.release(self.engine, c, "Waiting for a worker.")
            return [claim], [resume]
        return claims, states

    def process(self, claim: queue.Claim) -> int:
        """Train the claimed run (with the arms that join it); returns how many runs it took."""
        claims, states = self._group(claim, self._resume_state(claim))
        cfgs = [TrainConfig.from_dict(c.config) for c in claims]
        resumed = f", resuming after epoch {states[0]['epoch']}" if states[0] else ""
        log.info(
            "runs %s (%s): attempt %s%s%s",
            [c.run_id for c in claims],
            ", ".join(c.name for c in claims),
            claim.attempt,
            resumed,
            ", in lockstep" if len(claims) > 1 else "",
        )
        watch = _Watch(self, claims)
        writer = _Writer(self, claims, watch.lost)
        watch.start()
        writer.start()

        def should_stop() -> bool:
            return self.shutdown.is_set() or watch.cancel.is_set() or watch.lost.is_set()

        def on_start(hist_bases, from_epoch):
            device = describe(self.device)
            for c in claims:
                if not queue.begin_training(self.engine, c, device, hist_bases, from_epoch):
                    raise ClaimLost

        try:
            train_split, val_split = load_data(
                cfgs[0], self.settings.dataset_root, self.settings.download, self.device
            )
            # The stacked engine (with its hand-written backward) trains one arm too, faster
            # than the autograd engine; that one takes what it cannot (CNNs, dropout, BN).
            results = train(
                cfgs,
                train_split,
                val_split,
                self.device,
                writer.submit,
                should_stop,
                on_start,
                resume=states if states[0] else None,
                keep_resume=writer.state_due,
                compile_model=self.settings.compile,
                stacked=self.settings.lockstep and lockstep_key(cfgs[0]) is not None,
                task=load_task(cfgs[0]) if cfgs[0].dataset in TASK else None,
            )
            writer.close()
            for c, cfg, result in zip(claims, cfgs, results, strict=True):
                files = checkpoint.final_files(
                    result.model.state_dict(), cfg.to_dict(), result.epoch, result.metrics
                )
                rows = artifacts.prepare(
                    self.settings.artifact_storage, self.settings.checkpoints, c.run_id, files
                )
                if not queue.finish(self.engine, c, RunStatus.succeeded, checkpoints=rows):
                    if not queue.run_exists(self.engine, c.run_id):
                        # Deleted while it trained: the files just written belong to nobody.
                        names = [row.filename for row, _ in rows if row.storage == "file"]
                        artifacts.remove_files(self.settings.checkpoints, names, [c.run_id])
                    raise ClaimLost
                log.info("run %s succeeded: val_loss %.4g", c.run_id, result.metrics["val_loss"])
        except (Stopped, ClaimLost):
            self._stopped(claims, watch, writer)
        except DatasetMissing as e:
            self._fail(claims, writer, str(e))
        except torch.OutOfMemoryError as e:
            self._fail(claims, writer, f"Out of memory: {e}. Try a smaller batch or model.")
        except Exception as e:
            log.error("runs %s failed:\n%s", [c.run_id for c in claims], traceback.format_exc())
            self._fail(claims, writer, f"{type(e).__name__}: {e}")
        finally:
            watch.done.set()
            watch.join()
        return len(claims)

    def _settle(self, writer: _Writer) -> None:
        """Let the writer finish what it has; its own failure no longer matters here."""
        if writer.is_alive():
            try:
                writer.close()
            except Exception:
                log.exception("committing the last epochs failed")

    def _stopped(self, claims: list[queue.Claim], watch: _Watch, writer: _Writer) -> None:
        self._settle(writer)  # finished epochs are kept: a resumed run starts after them
        for c in claims:
            if watch.lost.is_set():
                log.warning("run %s: the claim was taken back; dropping the run", c.run_id)
            elif watch.cancel.is_set():
                queue.finish(self.engine, c, RunStatus.cancelled, error="Cancelled by the user.")
            elif self.shutdown.is_set():
                queue.release(
                    self.engine,
                    c,
                    "A worker shut down; another one will resume it.",
                    interruption="its worker shut down",
                )

    def _fail(self, claims: list[queue.Claim], writer: _Writer, message: str) -> None:
        self._settle(writer)
        for c in claims:
            queue.finish(self.engine, c, RunStatus.failed, error=message)
