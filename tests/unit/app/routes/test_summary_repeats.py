"""The summary over repeats, recomputed from the runs' stored metrics (/api/runs/{id}/metrics):
per arm the mean and 95 % t-interval over seeds, the paired difference from the reference arm with
its p-value, and the sentence; a failed repeat is left out and named; one repeat gives no interval.
The t quantiles are the printed tables' and the p-values closed forms (df 1: Cauchy; df 2), so the
recomputation shares no code with app.statistics."""

import csv
import io
import math
import statistics as stdlib

import pytest

from store import queue
from store.engine import get_engine
from store.models import RunStatus
from worker.loop import Worker

TINY = {"epochs": 2, "train_per_class": 5, "val_per_class": 10, "hidden": 8}
T_975 = {1: 12.706, 2: 4.303}


def two_sided_p(t: float, df: int) -> float:
    if df == 1:
        return 1 - 2 / math.pi * math.atan(abs(t))
    assert df == 2
    return 1 - abs(t) / math.sqrt(2 + t * t)


def expected_interval(values: list[float]) -> tuple[float, float, float]:
    mean = math.fsum(values) / len(values)
    half = T_975[len(values) - 1] * stdlib.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def final_acc(client, run_id: int) -> float:
    return client.get(f"/api/runs/{run_id}/metrics").json()["epochs"][-1]["val_acc"]


def test_summary_over_seeds_recomputed_from_stored_metrics(client, settings):
    body = {**TINY, "seed": 10, "repeats": 3, "runs": [{"name": "Lasso", "l1": 1e-3},
                                                        {"name": "Original"}]}  # fmt: skip
    exp = client.post("/api/experiments", json=body).json()
    engine = get_engine(settings.db_url)
    worker = queue.register_worker(engine, "host", 1, "cpu")
    claim = queue.claim_next(engine, worker)  # Lasso, seed 10: it fails before any epoch
    assert (claim.name, claim.config["seed"]) == ("Lasso", 10)
    queue.finish(engine, claim, RunStatus.failed, error="boom")
    assert Worker(settings).run_forever(exit_when_idle=True) == 5

    out = client.get(f"/api/experiments/{exp['id']}/summary").json()
    runs = {(r["name"], r["seed"]): r["id"] for r in exp["runs"]}
    acc = {key: final_acc(client, rid) for key, rid in runs.items() if key != ("Lasso", 10)}
    lasso, original = out["arms"]
    assert out["repeats"] == 3 and out["reference"] == runs[("Original", 10)]
    assert (lasso["repeats"], lasso["left_out"], original["left_out"]) == (3, [10], [])
    assert [s["seed"] for s in lasso["seeds"]] == [10, 11, 12]
    assert lasso["seeds"][0]["status"] == "failed"

    for arm, seeds in ((lasso, (11, 12)), (original, (10, 11, 12))):
        values = [acc[(arm["name"], s)] for s in seeds]
        got = arm["intervals"]["final_val_acc"]
        assert got["n"] == len(seeds) and got["seeds"] == list(seeds)
        assert arm["final_val_acc"] == pytest.approx(math.fsum(values) / len(values), abs=1e-12)
        if len(set(values)) > 1:
            mean, low, high = expected_interval(values)
            assert (got["mean"], got["low"], got["high"]) == pytest.approx((mean, low, high),
                                                                            abs=2e-4)  # fmt: skip
        else:  # every seed the same: zero width
            assert got["low"] == got["high"] == got["mean"] == values[0]

    diffs = [acc[("Lasso", s)] - acc[("Original", s)] for s in (11, 12)]
    d = lasso["difference"]
    assert d["n"] == 2 and d["left_out"] == [10] and original["difference"] is None
    assert d["values"] == pytest.approx({"11": diffs[0], "12": diffs[1]}, abs=1e-12)
    assert d["mean"] == pytest.approx(sum(diffs) / 2, abs=1e-12)
    if diffs[0] != diffs[1]:
        t = d["mean"] / (stdlib.stdev(diffs) / math.sqrt(2))
        assert d["p_value"] == pytest.approx(two_sided_p(t, 1), abs=1e-9)
    sentence = lasso["sentence"]
    assert sentence.startswith("Lasso vs Original: ") and "over 2 seeds" in sentence
    assert "seed 10 left out" in sentence and original["sentence"] is None

    r = client.get(f"/api/experiments/{exp['id']}/summary.csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["name"] for row in rows] == ["Lasso", "Original"]
    assert float(rows[0]["difference.mean"]) == pytest.approx(d["mean"], abs=1e-12)
    assert rows[0]["left_out_seeds"] == "10" and rows[0]["sentence"] == sentence
    metrics = list(csv.DictReader(io.StringIO(
        client.get(f"/api/experiments/{exp['id']}/metrics.csv").text)))  # fmt: skip
    assert sorted({(row["arm"], row["seed"]) for row in metrics}) == sorted(
        (n, str(s)) for n, s in acc
    )


def test_one_repeat_gives_no_interval(client, settings):
    exp = client.post(
        "/api/experiments",
        json={**TINY, "runs": [{"name": "Original"}, {"name": "Ridge", "l2": 1e-2}]},
    )
    assert Worker(settings).run_forever(exit_when_idle=True) == 2
    out = client.get(f"/api/experiments/{exp.json()['id']}/summary").json()
    original, ridge = out["arms"]
    assert (
        original["intervals"]["final_val_acc"]["reason"] == "one repeat: no interval can be given"
    )
    assert original["intervals"]["final_val_acc"]["low"] is None
    assert ridge["difference"]["p_value"] is None
    assert "no interval can be given" in ridge["sentence"] and "±" not in ridge["sentence"]


def test_a_sweep_with_repeats_gives_the_one_standard_error_value(client, settings):
    sweep = {"param": "l2", "from": 1e-3, "to": 1e-1, "points": 3, "include_zero": True}
    exp = client.post("/api/experiments", json={**TINY, "sweep": sweep, "repeats": 2}).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 8
    out = client.get(f"/api/experiments/{exp['id']}/summary").json()
    per_value: dict[float, list[float]] = {}
    for run in exp["runs"]:
        per_value.setdefault(run["sweep_value"], []).append(final_acc(client, run["id"]))
    means = {lam: math.fsum(v) / len(v) for lam, v in per_value.items()}
    best = max(means, key=lambda lam: (means[lam], lam))
    se = stdlib.stdev(per_value[best]) / math.sqrt(2)
    chosen = max(lam for lam, m in means.items() if m >= means[best] - se)
    rule = out["one_se"]
    assert rule["best"] == pytest.approx(best) and rule["chosen"] == pytest.approx(chosen)
    assert rule["best_mean"] == pytest.approx(means[best], abs=1e-12)
    assert out["reference"] == next(r["id"] for r in exp["runs"] if r["sweep_value"] == 0)
    path = client.get(f"/api/experiments/{exp['id']}/path").json()["points"]
    assert sorted((p["arm"], p["seed"]) for p in path) == [(a, s) for a in range(4) for s in (0, 1)]
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/api/experiments/{exp['id']}/path.csv").text)))  # fmt: skip
    assert sorted(row["seed"] for row in rows) == ["0"] * 4 + ["1"] * 4
