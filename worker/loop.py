"""The worker process: register, claim, train with a heartbeat, finish; repeat.

- A watcher thread heartbeats the claim and looks for a cancel request four times a second.
- A writer thread commits each epoch (metrics, histograms and the resume checkpoint, in one
  transaction) while training goes on with the next one.
- SIGTERM or Ctrl-C stops training at the end of the current batch, commits what is finished,
  and gives the run back to the queue; another worker resumes it from its last committed epoch.
- A claim taken back (this worker was paused past the stall timeout) makes every later write a
  no-op; the worker drops the run and takes the next one.
"""

import logging
import os
import queue as queues
import signal
import socket
import threading
import time
import traceback

import torch

from app.db import artifacts, feed, queue
from app.db.engine import get_engine
from app.db.models import RunStatus
from app.settings import Settings
from worker import checkpoint
from worker.config import TrainConfig
from worker.data import DatasetMissing
from worker.train import EpochReport, Stopped, describe, load_data, pick_device, train

log = logging.getLogger("reglab.worker")

CANCEL_CHECK_S = 0.25  # how often a running arm looks for a cancel request
WRITE_RETRIES = 5  # a transient database error is retried, with backoff, before the run fails


class ClaimLost(Exception):
    """The run was taken back from this worker; nothing more may be written for it."""


class _Watch(threading.Thread):
    """Heartbeats the claim and watches for a cancel request while the main thread trains."""

    def __init__(self, worker: "Worker", claim: queue.Claim):
        super().__init__(daemon=True, name=f"watch-run-{claim.run_id}")
        self.worker, self.claim = worker, claim
        self.done = threading.Event()
        self.cancel = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        engine, s = self.worker.engine, self.worker.settings
        last_beat = time.monotonic()
        while not self.done.wait(CANCEL_CHECK_S):
            if self.worker._orphaned():
                self.worker.shutdown.set()  # stop training as on SIGTERM: the run is re-queued
            try:
                if time.monotonic() - last_beat >= s.heartbeat_interval:
                    last_beat = time.monotonic()
                    if not queue.heartbeat(engine, self.claim, self.worker.id):
                        self.lost.set()
                        return
                if queue.cancel_requested(engine, self.claim):
                    self.cancel.set()
            except Exception:  # a transient database error must not kill the heartbeat
                log.exception("heartbeat failed; retrying")


class _Writer(threading.Thread):
    """Commits epochs in order, off the training thread. At most two wait: training never runs
    far ahead of what is committed."""

    def __init__(self, worker: "Worker", claim: queue.Claim, lost: threading.Event):
        super().__init__(daemon=True, name=f"writer-run-{claim.run_id}")
        self.worker, self.claim, self.lost = worker, claim, lost
        self.pending: queues.Queue[EpochReport | None] = queues.Queue(maxsize=2)
        self.error: BaseException | None = None

    def submit(self, report: EpochReport) -> None:
        if self.error is not None:
            raise self.error
        if self.lost.is_set():
            raise ClaimLost
        self.pending.put(report)

    def close(self) -> None:
        """Wait until everything submitted is committed (or refused)."""
        self.pending.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        while (r := self.pending.get()) is not None:
            if self.error is not None or self.lost.is_set():
                continue  # drain: nothing more may be written
            try:
                self._commit(r)
            except BaseException as e:  # surfaced to the training thread at its next submit
                self.error = e

    def _commit(self, r: EpochReport) -> None:
        resume = checkpoint.to_bytes(r.resume) if r.resume is not None else None
        for attempt in range(WRITE_RETRIES):
            try:
                ok = feed.write_epoch(
                    self.worker.engine,
                    self.claim,
                    r.epoch,
                    r.metrics,
                    r.layers,
                    r.histograms,
                    resume,
                )
                break
            except Exception:
                if attempt == WRITE_RETRIES - 1:
                    raise
                log.exception("writing epoch %s failed; retrying", r.epoch)
                time.sleep(0.2 * 2**attempt)
        if not ok:
            self.lost.set()


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

    def run_forever(self, max_runs: int | None = None, exit_when_idle: bool = False) -> int:
        self.id = queue.register_worker(
            self.engine, socket.gethostname(), os.getpid(), describe(self.device)
        )
        log.info("worker %s ready on %s", self.id, describe(self.device))
        done, last_sweep = 0, 0.0
        while not self.shutdown.is_set() and (max_runs is None or done < max_runs):
            if self._orphaned():
                log.info("worker %s: its parent process is gone; stopping", self.id)
                break
            if time.monotonic() - last_sweep > self.settings.stall_timeout / 3:
                last_sweep = time.monotonic()
                queue.requeue_stalled(
                    self.engine, self.settings.stall_timeout, self.settings.max_attempts
                )
            claim = queue.claim_next(self.engine, self.id)
            if claim is None:
                if exit_when_idle:
                    break
                self.shutdown.wait(self.settings.poll_interval)
                continue
            self.process(claim)
            done += 1
        return done

    def _resume_state(self, claim: queue.Claim):
        if claim.attempt == 1:
            return None
        stored = feed.load_resume(self.engine, claim)
        if stored is None:
            return None
        try:
            return checkpoint.from_bytes(stored[1])
        except Exception:  # an unreadable state costs the finished epochs, not the run
            log.exception("run %s: resume checkpoint unreadable; starting over", claim.run_id)
            return None

    def process(self, claim: queue.Claim) -> None:
        cfg = TrainConfig.from_dict(claim.config)
        resume = self._resume_state(claim)
        log.info(
            "run %s (%s): attempt %s%s",
            claim.run_id,
            claim.name,
            claim.attempt,
            f", resuming after epoch {resume['epoch']}" if resume else "",
        )
        watch = _Watch(self, claim)
        writer = _Writer(self, claim, watch.lost)
        watch.start()
        writer.start()

        def should_stop() -> bool:
            return self.shutdown.is_set() or watch.cancel.is_set() or watch.lost.is_set()

        def on_start(hist_bases, from_epoch):
            device = describe(self.device)
            if not feed.begin_training(self.engine, claim, device, hist_bases, from_epoch):
                raise ClaimLost

        try:
            train_split, val_split = load_data(
                cfg, self.settings.dataset_root, self.settings.download, self.device
            )
            result = train(
                cfg,
                train_split,
                val_split,
                self.device,
                writer.submit,
                should_stop,
                on_start,
                resume=resume,
                keep_resume=True,
            )
            writer.close()
            files = checkpoint.final_files(
                result.model.state_dict(), cfg.to_dict(), result.epoch, result.metrics
            )
            rows = artifacts.prepare(
                self.settings.artifact_storage, self.settings.checkpoints, claim.run_id, files
            )
            if not queue.finish(self.engine, claim, RunStatus.succeeded, checkpoints=rows):
                raise ClaimLost
            log.info("run %s succeeded: val_acc %.4f", claim.run_id, result.metrics["val_acc"])
        except (Stopped, ClaimLost):
            self._stopped(claim, watch, writer)
        except DatasetMissing as e:
            self._fail(claim, writer, str(e))
        except torch.OutOfMemoryError as e:
            self._fail(claim, writer, f"Out of memory: {e}. Try a smaller batch or model.")
        except Exception as e:
            log.error("run %s failed:\n%s", claim.run_id, traceback.format_exc())
            self._fail(claim, writer, f"{type(e).__name__}: {e}")
        finally:
            watch.done.set()
            watch.join()

    def _settle(self, writer: _Writer) -> None:
        """Let the writer finish what it has; its own failure no longer matters here."""
        if writer.is_alive():
            try:
                writer.close()
            except Exception:
                log.exception("committing the last epochs failed")

    def _stopped(self, claim: queue.Claim, watch: _Watch, writer: _Writer) -> None:
        self._settle(writer)  # finished epochs are kept: a resumed run starts after them
        if watch.lost.is_set():
            log.warning("run %s: the claim was taken back; dropping the run", claim.run_id)
        elif watch.cancel.is_set():
            queue.finish(self.engine, claim, RunStatus.cancelled, error="Cancelled by the user.")
        elif self.shutdown.is_set():
            queue.release(self.engine, claim, "A worker shut down; another one will resume it.")

    def _fail(self, claim: queue.Claim, writer: _Writer, message: str) -> None:
        self._settle(writer)
        queue.finish(self.engine, claim, RunStatus.failed, error=message)
