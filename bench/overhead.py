"""(4) What the measurements cost per epoch: the worker's full path (weight statistics,
histograms, resume checkpoints, one database transaction per epoch on a real SQLite file) against
the bare training loop, same arms, measured side by side in one run.

Epoch time is the wall time from one epoch's report to the next: for the bare loop, when train
returns each epoch; for the worker, when each epoch's row was written (EpochMetric.created_at).
Means, not medians: a resume checkpoint is kept after some epochs only, and a median would hide
its cost. Run: python -m bench.overhead
"""

import statistics
import tempfile
import time
from pathlib import Path

import torch
from sqlmodel import select

from app.db import queue
from app.db.engine import get_engine, read_session
from app.db.models import EpochMetric
from app.settings import Settings
from bench.common import DATA, header
from worker.config import TrainConfig
from worker.lockstep import train_lockstep
from worker.loop import Worker
from worker.train import load_data

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": None,
    "val_per_class": 300,
    "epochs": 8,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "hidden": 500,
    "seed": 0,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-4}), ("Ridge", {"l2": 1e-3})]


def bare_epochs(data, device) -> list[float]:
    cfgs = [TrainConfig.from_dict({**EXPERIMENT, **arm, "arm": name}) for name, arm in ARMS]
    stamps = [time.perf_counter()]
    train_lockstep(
        cfgs,
        *data,
        device,
        measure=False,
        report=lambda reports: stamps.append(time.perf_counter()),
    )
    return [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]  # epoch 1 warms up


def full_epochs(resume_every: float | str) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="reglab-bench-"))
    settings = Settings(home=home, data_dir=DATA, download=False, resume_every=resume_every)
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "bench", EXPERIMENT, ARMS)
    Worker(settings).run_forever(exit_when_idle=True)
    with read_session(engine) as s:
        made = [
            m.created_at.timestamp()
            for m in s.exec(
                select(EpochMetric).where(EpochMetric.run_id == 1).order_by(EpochMetric.epoch)
            )
        ]
    return [b - a for a, b in zip(made[1:], made[2:], strict=False)]


def main() -> None:
    header("epoch time with statistics, histograms, resume states and database writes, on vs off")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_data(TrainConfig.from_dict(EXPERIMENT), DATA, False, device)
    offs, auto, every = [], [], []
    for _ in range(3):  # interleaved, so drift on the machine hits all alike
        offs += bare_epochs(data, device)
        auto += full_epochs("auto")
        every += full_epochs(0.0)
    off = statistics.mean(offs)
    for label, epochs in (
        ("REGLAB_RESUME_EVERY=auto (default)", auto),
        ("a resume state after every epoch", every),
    ):
        on = statistics.mean(epochs)
        print(
            f"   {label:36s} off {off * 1000:5.0f} ms  on {on * 1000:5.0f} ms  "
            f"on / off = {on / off:.3f}"
        )


if __name__ == "__main__":
    main()
