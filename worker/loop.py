"""The worker process: register, claim, train with a heartbeat, finish; repeat.

Signals (SIGTERM, Ctrl-C) stop training at the end of the current batch and give the run back to
the queue, so `reglab up` exits within a few seconds and the run is trained again later.
"""

import logging
import os
import signal
import socket
import threading
import time
import traceback

import torch

from app.db import feed, queue
from app.db.engine import get_engine
from app.db.models import Checkpoint, RunStatus
from app.settings import Settings
from worker.checkpoint import save_final
from worker.config import TrainConfig
from worker.data import DatasetMissing
from worker.train import EpochReport, Stopped, describe, load_data, pick_device, train

log = logging.getLogger("reglab.worker")

CANCEL_CHECK_S = 0.25  # how often a running arm looks for a cancel request


class ClaimLost(Exception):
    """The run was taken back from this worker (it stalled); nothing more may be written."""


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


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = get_engine(settings.db_url)
        self.device = pick_device(settings.device)
        self.shutdown = threading.Event()
        self.id = ""

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

    def process(self, claim: queue.Claim) -> None:
        log.info("run %s (%s): attempt %s", claim.run_id, claim.name, claim.attempt)
        watch = _Watch(self, claim)
        watch.start()
        cfg = TrainConfig.from_dict(claim.config)

        def should_stop() -> bool:
            return self.shutdown.is_set() or watch.cancel.is_set() or watch.lost.is_set()

        def on_start(hist_bases):
            if not feed.begin_training(self.engine, claim, describe(self.device), hist_bases):
                raise ClaimLost

        def report(r: EpochReport) -> None:
            if not feed.write_epoch(self.engine, claim, r.epoch, r.metrics, r.layers, r.histograms):
                raise ClaimLost

        try:
            train_split, val_split = load_data(
                cfg, self.settings.dataset_root, self.settings.download, self.device
            )
            result = train(cfg, train_split, val_split, self.device, report, should_stop, on_start)
            name, size, sha = save_final(
                self.settings.checkpoints,
                claim.run_id,
                result.model.state_dict(),
                cfg.to_dict(),
                result.epoch,
                result.metrics,
            )
            ckpt = Checkpoint(run_id=claim.run_id, filename=name, size=size, sha256=sha)
            queue.finish(self.engine, claim, RunStatus.succeeded, checkpoint=ckpt)
            log.info("run %s succeeded: %s", claim.run_id, result.metrics.get("val_acc"))
        except (Stopped, ClaimLost):
            if watch.lost.is_set():
                log.warning("run %s: claim lost; dropping it", claim.run_id)
            elif watch.cancel.is_set():
                queue.finish(
                    self.engine, claim, RunStatus.cancelled, error="Cancelled by the user."
                )
            elif self.shutdown.is_set():
                queue.release(self.engine, claim, "Worker shut down; waiting for another one.")
            else:
                log.warning("run %s: claim lost", claim.run_id)
        except DatasetMissing as e:
            queue.finish(self.engine, claim, RunStatus.failed, error=str(e))
        except torch.OutOfMemoryError as e:
            queue.finish(self.engine, claim, RunStatus.failed, error=f"Out of memory: {e}")
        except Exception as e:
            log.error("run %s failed:\n%s", claim.run_id, traceback.format_exc())
            queue.finish(self.engine, claim, RunStatus.failed, error=f"{type(e).__name__}: {e}")
        finally:
            watch.done.set()
            watch.join()
