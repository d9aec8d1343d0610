"""Repeats train together by seed, and a repeat's results do not depend on the runs it was
grouped with: trained grouped by the worker it equals the same arm and seed trained alone."""

from store import queue, reads
from store.engine import get_engine, read_session
from tests.unit.worker.arms import CPU, alone
from worker.config import TrainConfig
from worker.loop import Worker
from worker.train import load_data

SHARED = {
    "train_per_class": 20,
    "val_per_class": 10,
    "epochs": 2,
    "hidden": 32,
    "batch_size": 32,
    "seed": 3,
    "repeats": 2,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-3}), ("Ridge", {"l2": 1e-2})]
METRICS = ("train_loss", "penalty", "train_acc", "val_loss", "val_acc")


def test_the_worker_groups_the_arms_of_one_seed(settings):
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "repeats", SHARED, ARMS)
    worker = Worker(settings)
    worker.id = queue.register_worker(engine, "host", 1, "cpu")
    claims, _ = worker._group(queue.claim_next(engine, worker.id), None)
    # Runs of another seed have other data, initial weights and batches: not in this group.
    assert [(c.name, c.config["seed"]) for c in claims] == [(n, 3) for n, _ in ARMS]
    left = [(q.config["arm"], q.config["seed"]) for q in queue.queued_siblings(engine, claims[0])]
    assert left == [(n, 4) for n, _ in ARMS]


def test_a_repeat_trained_grouped_equals_it_trained_alone(settings, mnist_root):
    engine = get_engine(settings.db_url)
    exp = queue.create_experiment(engine, "repeats", SHARED, ARMS)
    assert Worker(settings).run_forever(exit_when_idle=True) == 6
    with read_session(engine) as s:
        runs = reads.experiment_arms(s, exp.id)[1]
        lasso = next(r for r in runs if r.name == "Lasso" and r.seed == 4)
        stored = reads.run_metrics(s, lasso.id)
        first = {(r.name, r.seed): reads.run_metrics(s, r.id)[0]["train_loss"] for r in runs}
    assert {r.status for r in runs} == {"succeeded"}
    cfg = TrainConfig.from_dict({**SHARED, "seed": 4, "arm": "Lasso", "l1": 1e-3})
    _, reports = alone(cfg, load_data(cfg, mnist_root, False, CPU))
    assert len(stored) == len(reports) == 2
    for got, want in zip(stored, reports, strict=True):
        for key in METRICS:
            assert abs(got[key] - want.metrics[key]) <= 1e-5 * max(1.0, abs(want.metrics[key]))
    # Across seeds the data subset, initial weights and batches differ: so do the losses.
    assert first[("Original", 3)] != first[("Original", 4)]
