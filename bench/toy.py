"""(toy) A 10-point L2 sweep plus the zero arm on moons (500 points, the 2-64-64-2 network, full
batch, 300 epochs): the 11 arms batched (one stacked computation, as the worker groups them)
against the same 11 models one by one, side by side in one run; the whole experiment through a
real worker and database; and the function views' (decision boundaries') share of the time.

Batched and one by one alternate (batched, one by one, batched), so drift of a shared machine
shows as a difference between the two batched runs. One by one is printed twice: on the
autograd engine (a plain PyTorch loop) and on the stacked engine with one arm (how the worker
trains a lone arm). Targets: batched >= 5x one by one; the experiment <= 15 s on two cores;
views <= 5 % of the epochs' time. Run: python -m bench.toy
"""

import statistics
import tempfile
import time
from dataclasses import replace as dataclass_replace
from pathlib import Path

from app.experiments import launch
from app.schemas import ExperimentIn, SweepIn
from bench.common import header, timed
from store.engine import get_engine
from store.settings import Settings
from worker import train as W
from worker.config import TrainConfig
from worker.loop import Worker

BODY = ExperimentIn(
    dataset="moons",
    n_train=500,
    epochs=300,
    sweep=SweepIn(param="l2", from_=1e-6, to=1e-1, points=10, include_zero=True),
)
CPU = W.pick_device("cpu")


def arms() -> list[TrainConfig]:
    shared = BODY.shared_config()
    return [TrainConfig.from_dict({**shared, **r.arm_config(), "arm": r.name}) for r in BODY.runs]


def batched(cfgs, data, task) -> list:
    reports: list = []
    W.train(cfgs, *data, CPU, reports.append, stacked=True, task=task)
    return reports


def one_by_one(cfgs, data, stacked: bool) -> None:
    for cfg in cfgs:
        W.train([cfg], *data, CPU, stacked=stacked)


def whole_experiment() -> float:
    """POST-equivalent launch, then a worker trains every arm (claims, epochs committed to
    SQLite, checkpoints): seconds from launch to the last arm done."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), download=False)
        engine = get_engine(settings.db_url)
        start = time.perf_counter()
        launch(engine, BODY, settings.max_work)
        Worker(settings).run_forever(exit_when_idle=True)
        return time.perf_counter() - start


def view_share(cfgs, data, task, reports) -> tuple[float, float, int]:
    """(share of the epochs' time the kept views took, one epoch's views / one epoch, views
    kept), from the second batched run. One epoch's views of every arm timed apart, median
    of 5."""
    models = W.train(cfgs, *data, CPU, stacked=True)  # trained arms: the views' real inputs
    one = statistics.median(
        timed(W.arm_views, cfgs[0], [r.model for r in models], task, 2)[0] for _ in range(5)
    )
    kept = sum(1 for epoch in reports if epoch[0].view is not None)
    epochs_s = sum(epoch[0].metrics["epoch_time"] for epoch in reports)
    per_epoch = epochs_s / len(reports)
    return kept * one / epochs_s, one / per_epoch, kept


def main() -> None:
    header("toy: moons L2 sweep, 11 arms batched vs one by one")
    cfgs = arms()
    data = W.load_data(cfgs[0], None, False, CPU)
    task = W.load_task(cfgs[0])
    warm = [dataclass_replace(c, epochs=3) for c in cfgs]  # first calls, untimed
    batched(warm, data, task)
    one_by_one(warm[:1], data, False)
    b1, _ = timed(batched, cfgs, data, task)
    auto, _ = timed(one_by_one, cfgs, data, False)
    alone, _ = timed(one_by_one, cfgs, data, True)
    b2, reports = timed(batched, cfgs, data, task)
    best = min(b1, b2)
    print(f"   batched (11 arms, views included): {b1:.2f} s, again {b2:.2f} s")
    print(
        f"   one by one, autograd engine:       {auto:.2f} s  -> {auto / best:.1f}x (target >= 5x)"
    )
    print(f"   one by one, stacked engine K=1:    {alone:.2f} s  -> {alone / best:.1f}x")
    share, every, kept = view_share(cfgs, data, task, reports)
    print(
        f"   function views: {kept} of {len(reports)} epochs kept, {100 * share:.1f} % of the "
        f"epochs' time (target <= 5 %); every epoch would cost {100 * every:.0f} % of one"
    )
    print(f"   whole experiment through a worker and SQLite: {whole_experiment():.2f} s "
          "(target <= 15 s on two cores)")  # fmt: skip


if __name__ == "__main__":
    main()
