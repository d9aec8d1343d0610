"""(4) What the measurements cost: the worker's full path (weight statistics, histograms, resume
checkpoints, one database transaction per epoch, on a real SQLite file) against the bare training
loop, same arms and epochs, in one run. Run: python bench/overhead.py
"""

import tempfile
from pathlib import Path

import torch

from app.db import queue
from app.db.engine import get_engine
from app.settings import Settings
from bench.common import DATA, header, timed
from worker.config import TrainConfig
from worker.lockstep import train_lockstep
from worker.loop import Worker
from worker.train import load_data

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": None,
    "val_per_class": 300,
    "epochs": 5,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "hidden": 500,
    "seed": 0,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-4}), ("Ridge", {"l2": 1e-3})]


def bare(data, device) -> None:
    cfgs = [TrainConfig.from_dict({**EXPERIMENT, **arm, "arm": name}) for name, arm in ARMS]
    train_lockstep(cfgs, *data, device, measure=False)


def full(home: Path) -> None:
    settings = Settings(home=home, data_dir=DATA, download=False)
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "bench", EXPERIMENT, ARMS)
    Worker(settings).run_forever(exit_when_idle=True)


def main() -> None:
    header("epoch time with statistics, histograms and database writes, on vs off")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_data(TrainConfig.from_dict(EXPERIMENT), DATA, False, device)
    bare(data, device)  # warm up
    offs, ons = [], []
    for i in range(3):  # interleaved, so drift on the machine hits both alike
        offs.append(timed(bare, data, device)[0])
        ons.append(timed(full, Path(tempfile.mkdtemp(prefix=f"reglab-bench-{i}-")))[0])
    off, on = min(offs), min(ons)
    print(f"   off {off:6.2f} s   on {on:6.2f} s   (best of 3; on includes loading the data)")
    print(f"   on / off = {on / off:.3f}")


if __name__ == "__main__":
    main()
