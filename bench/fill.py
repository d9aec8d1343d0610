"""A stored experiment of any size without training it: for the page-size and stream benches and
the tests that need many epochs. The rows have the shapes a worker writes (store/queue.py)."""

import random

from sqlalchemy import Engine, insert, update
from sqlmodel import select

from app.schemas import ExperimentIn, RunIn
from store import bins, queue
from store.engine import write_session
from store.models import Change, EpochMetric, Histogram, Run, RunStatus, utcnow

STATS = ("mean_abs", "l1", "l2_sq", "zero_frac", "near_zero_frac", "max_abs")


def metric_row(rng, run_id: int, epoch: int, acc: float, tensors, now) -> dict:
    """One EpochMetric row of made-up values, shaped as the worker writes it."""
    return {
        "run_id": run_id,
        "epoch": epoch,
        "train_loss": rng.random(),
        "penalty": rng.random() * 1e-3,
        "train_acc": acc,
        "val_loss": rng.random(),
        "val_acc": acc - rng.random() * 0.05,
        "lr": 1e-3,
        "epoch_time": 0.5 + rng.random(),
        "samples_per_s": 2000 * (1 + rng.random()),
        "layers": {t: {k: rng.random() for k in STATS} for t in tensors},
        "created_at": now,
    }


def fine_grid(rng, counts: list[int], f: int = 2) -> dict:
    """A fine grid (store.bins) that re-bins to `counts`: each bin's count split over its 2**f."""
    fine = []
    for c in counts:
        cuts = sorted(rng.randint(0, c) for _ in range(2**f - 1))
        fine += [b - a for a, b in zip([0, *cuts], [*cuts, c], strict=True)]
    return {"f": f, "runs": bins.to_runs(fine)}


def fill_experiment(
    engine: Engine, arms: int = 16, epochs: int = 200, layers: int = 8, seed: int = 0
) -> int:
    """A finished experiment of `arms` x `epochs` with `layers` weight matrices (and biases);
    its id. Every epoch has its metrics, one histogram per weight matrix and its change row."""
    rng = random.Random(seed)
    body = ExperimentIn(
        name=f"filled {arms} x {epochs} x {layers}",
        epochs=epochs,
        hidden=64,
        depth=layers - 1,
        runs=[RunIn(name=f"arm {i}", l1=1e-5 * i) for i in range(arms)],
    )
    exp = queue.create_experiment(
        engine,
        body.display_name(),
        body.shared_config(),
        [(r.name, r.arm_config()) for r in body.runs],
    )
    weights = [f"linear_{i + 1}.weight" for i in range(layers)]
    tensors = weights + [f"linear_{i + 1}.bias" for i in range(layers)]
    with write_session(engine) as s:
        run_ids = list(
            s.exec(select(Run.id).where(Run.experiment_id == exp.id).order_by(Run.id)).all()
        )
        conn = s.connection()
        conn.execute(
            update(Run)
            .where(Run.experiment_id == exp.id)
            .values(
                status=RunStatus.succeeded,
                epochs_done=epochs,
                device="cpu",
                hist_bases={w: 0.1 for w in weights},
            )
        )
        now = utcnow()
        for epoch in range(1, epochs + 1):
            metrics, hists, changes = [], [], []
            for run_id in run_ids:
                acc = min(0.99, 0.5 + 0.002 * epoch + rng.random() * 0.01)
                metrics.append(metric_row(rng, run_id, epoch, acc, tensors, now))
                for w in weights:
                    counts = [rng.randrange(0, 500) for _ in range(bins.BINS)]
                    hists.append(
                        {
                            "run_id": run_id,
                            "epoch": epoch,
                            "layer": w,
                            "level": 0,
                            "counts": counts,
                            "fine": fine_grid(rng, counts),
                        }
                    )
                changes.append(
                    {
                        "experiment_id": exp.id,
                        "run_id": run_id,
                        "kind": "epoch",
                        "epoch": epoch,
                        "created_at": now,
                    }
                )
            conn.execute(insert(EpochMetric), metrics)
            conn.execute(insert(Histogram), hists)
            conn.execute(insert(Change), changes)
    return exp.id
