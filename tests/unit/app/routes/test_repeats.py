"""Repeats over seeds: an experiment queues one ordinary run per arm and seed, each carrying its
arm and seed; the limits count repeats."""

from app import experiments, limits
from app.schemas import ExperimentIn
from store import queue
from store.spec import MAX_RUNS

TINY = {"epochs": 2, "train_per_class": 5, "val_per_class": 5, "hidden": 8}


def test_launch_queues_one_run_per_arm_and_seed(engine):
    body = ExperimentIn.model_validate({**TINY, "seed": 7, "repeats": 3})
    exp = experiments.fresh(engine, experiments.launch(engine, body, max_work=2e15))
    got = [(r.name, r.arm, r.seed, r.status) for r in exp.runs]
    # Seed by seed, so the first claims complete whole seeds.
    assert got == [
        (name, arm, seed, "queued")
        for seed in (7, 8, 9)
        for arm, name in enumerate(["Original", "Lasso", "Ridge"])
    ]
    # Each repeat trains with its own seed (the merged config a worker claims).
    worker = queue.register_worker(engine, "host", 1, "cpu")
    claims = []
    while (c := queue.claim_next(engine, worker)) is not None:
        claims.append(c)
    assert [(c.config["arm"], c.config["seed"]) for c in claims] == [
        (n, s) for s in (7, 8, 9) for n in ("Original", "Lasso", "Ridge")
    ]


def test_run_again_keeps_the_arms_once_and_the_repeats(engine):
    body = ExperimentIn.model_validate({**TINY, "repeats": 2})
    first = experiments.launch(engine, body, max_work=2e15)
    again = experiments.fresh(engine, experiments.relaunch(engine, first, 2e15))
    assert [(r.name, r.seed) for r in again.runs] == [
        (n, s) for s in (0, 1) for n in ("Original", "Lasso", "Ridge")
    ]


def test_a_sweep_repeats_every_grid_point(engine):
    sweep = {"param": "l2", "from": 1e-4, "to": 1e-2, "points": 3, "include_zero": True}
    body = ExperimentIn.model_validate({**TINY, "sweep": sweep, "repeats": 2})
    exp = experiments.fresh(engine, experiments.launch(engine, body, max_work=2e15))
    assert len(exp.runs) == 8
    assert sorted({(r.arm, r.sweep_value) for r in exp.runs}) == sorted(
        {(r.arm, r.sweep_value) for r in exp.runs if r.seed == 0}
    )
    assert {r.seed for r in exp.runs} == {0, 1}


def test_the_limits_count_repeats(client):
    one = ExperimentIn.model_validate({**TINY, "repeats": 1})
    five = ExperimentIn.model_validate({**TINY, "repeats": 5})
    assert limits.work(five) == 5 * limits.work(one) and limits.runs(five) == 15
    arms = [{"name": f"a{i}"} for i in range(4)]
    r = client.post("/api/experiments", json={**TINY, "runs": arms, "repeats": 20})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"][-1] == "repeats"
    assert f"4 arms x 20 repeats = 80 runs, over the limit of {MAX_RUNS}" in err["msg"]
    r = client.post("/api/experiments", json={**TINY, "repeats": 21})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "repeats"
    assert client.get("/api/experiments").json() == []  # nothing stored


def test_the_api_groups_repeats_by_arm_and_seed(client):
    exp = client.post("/api/experiments", json={**TINY, "repeats": 2}).json()
    assert [(r["name"], r["arm"], r["seed"]) for r in exp["runs"]] == [
        (n, a, s) for s in (0, 1) for a, n in enumerate(["Original", "Lasso", "Ridge"])
    ]
    assert exp["config"]["repeats"] == 2
