"""(4) What the measurements cost per epoch: the worker's full path (weight statistics,
histograms, resume states as REGLAB_RESUME_EVERY keeps them, one database transaction per epoch on
a real SQLite file, the heartbeat and cancel checks) against the bare training loop, same arms.

Epoch time is the wall time from one epoch's report to the next: for the bare loop, when train
returns each epoch; for the worker, when each epoch's row was written (EpochMetric.created_at).
Epoch 1 warms up and is left out of both, after a short warm-up run of each. A run is 30 epochs
(12-15 s here), so `auto` keeps one resume state in it (the first after 10 s of training). Means
over the epochs, not medians, so a resume state's epoch cannot hide. Then each part of the
measuring path alone, as CPU time per epoch: what it takes from training, whatever the drift does.

The machine's speed drifts by 10-20 % over seconds, more than what is measured here, so the two
run in rounds, back to back in alternating order, and the ratio is taken per round; the median
round is printed with its 95 % confidence interval and the range.
Run: python -m bench.overhead [rounds] [--resume-every-epoch]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from sqlmodel import select

from app.db import feed, queue
from app.db.engine import get_engine, read_session
from app.db.models import EpochMetric
from app.settings import Settings
from bench.common import DATA, header, summary
from worker import checkpoint
from worker.config import TrainConfig
from worker.lockstep import Lockstep, train_lockstep
from worker.loop import CANCEL_CHECK_S, RESUME_COST_RATIO, Worker
from worker.stats import weight_figures
from worker.train import load_data

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": None,
    "val_per_class": 300,
    "epochs": 30,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "hidden": 500,
    "seed": 0,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-4}), ("Ridge", {"l2": 1e-3})]


def intervals(stamps: list[float]) -> list[float]:
    """Epoch 2 onwards, from the time each epoch was reported."""
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def bare_run(data, device, epochs: int = EXPERIMENT["epochs"]) -> tuple[list[float], list]:
    """The three arms on the bare loop: epoch times from epoch 2 on, and the arms' results."""
    experiment = {**EXPERIMENT, "epochs": epochs}
    cfgs = [TrainConfig.from_dict({**experiment, **arm, "arm": name}) for name, arm in ARMS]
    stamps = []
    results = train_lockstep(
        cfgs,
        *data,
        device,
        measure=False,
        report=lambda reports: stamps.append(time.perf_counter()),
    )
    return intervals(stamps), results


def bare_epochs(data, device, epochs: int = EXPERIMENT["epochs"]) -> list[float]:
    return bare_run(data, device, epochs)[0]


def full_epochs(resume_every: float | str, epochs: int = EXPERIMENT["epochs"]) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="reglab-bench-"))
    settings = Settings(home=home, data_dir=DATA, download=False, resume_every=resume_every)
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "bench", {**EXPERIMENT, "epochs": epochs}, ARMS)
    Worker(settings).run_forever(exit_when_idle=True)
    with read_session(engine) as s:
        made = s.exec(
            select(EpochMetric.created_at)
            .where(EpochMetric.run_id == 1)
            .order_by(EpochMetric.epoch)
        ).all()
    return intervals([t.timestamp() for t in made])


def cpu_ms(fn, repeat: int = 20) -> float:
    """Median CPU time of fn on this thread, in ms: what it takes from training, whatever the
    machine's drift does to wall time."""
    took = []
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        took.append(time.thread_time() - t)
    return statistics.median(took) * 1000


def parts(data, device, epoch_ms: float) -> None:
    """Each part of the measuring path alone, as CPU time per epoch and as a share of an epoch."""
    home = Path(tempfile.mkdtemp(prefix="reglab-bench-"))
    settings = Settings(home=home, data_dir=DATA, download=False)
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "parts", EXPERIMENT, ARMS)
    worker = queue.register_worker(engine, "bench", 1, "cpu")
    first = queue.claim_next(engine, worker)
    claims = [first, *queue.claim_more(engine, worker, first, [2, 3])]
    cfgs = [TrainConfig.from_dict(c.config) for c in claims]
    reports = []
    train_lockstep(
        [TrainConfig.from_dict({**c.to_dict(), "epochs": 1}) for c in cfgs],
        *data,
        device,
        report=reports.append,
        keep_resume=True,
    )
    ls = Lockstep(cfgs, data[0], device)
    states = [checkpoint.to_bytes(r.resume) for r in reports[0]]
    epoch = iter(range(1, 10**6))

    def commit(with_state: bool) -> None:
        e = next(epoch)
        rows = [
            feed.EpochRow(c, e, r.metrics, r.layers, r.histograms, s if with_state else None)
            for c, r, s in zip(claims, reports[0], states, strict=True)
        ]
        feed.write_epochs(engine, rows)

    def measure() -> None:
        for a in range(len(cfgs)):
            state = ls.model.arm_state(a)
            weight_figures(state, ls.bases)

    state_ms = cpu_ms(lambda: [checkpoint.to_bytes(r.resume) for r in reports[0]], 5)
    state_ms += cpu_ms(lambda: commit(True), 5) - cpu_ms(lambda: commit(False), 5)
    rows = {
        "statistics and histograms (training thread)": cpu_ms(measure),
        "the epoch's transaction (writer thread)": cpu_ms(lambda: commit(False)),
        "cancel checks (watcher thread)": cpu_ms(lambda: queue.cancel_requested(engine, claims))
        * epoch_ms
        / (CANCEL_CHECK_S * 1000),
    }
    print(f"   CPU time per epoch of each part alone, against a {epoch_ms:.0f} ms epoch:")
    for label, ms in rows.items():
        print(f"     {label:46s} {ms:6.2f} ms  {ms / epoch_ms:6.2%}")
    print(
        f"     a resume state for 3 arms: {state_ms:.0f} ms of CPU alone (more beside training); "
        f"`auto` spaces them by {RESUME_COST_RATIO}x the CPU time the last one took while "
        f"training, {1 / RESUME_COST_RATIO:.2%} of the time"
    )


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 6
    resume_every = 0.0 if "--resume-every-epoch" in sys.argv else "auto"
    header(
        f"epoch time with statistics, histograms, resume states and database writes, on vs off "
        f"(3 arms, batch 32, {EXPERIMENT['epochs']} epochs, REGLAB_RESUME_EVERY={resume_every}, "
        f"{rounds} rounds)"
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_data(TrainConfig.from_dict(EXPERIMENT), DATA, False, device)
    ways = {"off": lambda: bare_epochs(data, device), "on": lambda: full_epochs(resume_every)}
    # One short run of each first: the first worker in a process pays one-time costs (the
    # database's first connections and migrations, allocator growth) that are not per epoch.
    bare_epochs(data, device, epochs=3)
    full_epochs(resume_every, epochs=3)
    ratios, means = [], {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        took = {name: statistics.mean(ways[name]()) for name in order}
        for name, t in took.items():
            means[name].append(t)
        ratios.append(took["on"] / took["off"])
        print(
            f"   round {r + 1}: off {took['off'] * 1000:4.0f} ms  on {took['on'] * 1000:4.0f} ms"
            f"  on / off = {ratios[-1]:.3f}",
            flush=True,
        )
    off, on = (statistics.median(means[name]) for name in ways)
    print(
        f"   median epoch: off {off * 1000:.0f} ms, on {on * 1000:.0f} ms; on / off = "
        f"{summary(ratios)}"
    )
    parts(data, device, off * 1000)


if __name__ == "__main__":
    main()
