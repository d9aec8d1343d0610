"""The verdict table (/api/experiments/{id}/summary): every figure is the per-run API's, and the
reference arm follows its rule (Original; else a sweep's zero arm; else the first arm)."""

import pytest

from store import queue
from tests.factories import SMALL_THREE_ARMS
from worker.loop import Worker

FIGURES = (
    "final_val_acc",
    "best_val_acc",
    "final_gap",
    "final_mean_abs",
    "final_near_zero_frac",
    "dead_units",
)


def expected(rows: list[dict]) -> dict:
    """The figures recomputed from /api/runs/{id}/metrics."""
    last = rows[-1]
    best = max(rows, key=lambda m: (m["val_acc"], -m["epoch"]))  # the first epoch at the best
    return {
        "epochs_done": last["epoch"],
        "final_val_acc": last["val_acc"],
        "best_val_acc": best["val_acc"],
        "best_epoch": best["epoch"],
        "final_gap": last["train_acc"] - last["val_acc"],
        "final_mean_abs": last["layers"]["linear_1.weight"]["mean_abs"],
        "final_near_zero_frac": last["layers"]["linear_1.weight"]["near_zero_frac"],
        "dead_units": last["dead_units"]["linear_1"],  # the first hidden layer's
    }


def test_summary_figures_are_the_per_run_numbers(client, settings):
    # Arms named in another case: "original" is still the reference, though it is not last.
    body = {**SMALL_THREE_ARMS, "epochs": 3}
    body["runs"] = [
        {"name": "lasso", "l1": 0.001},
        {"name": "ORIGINAL"},
        {"name": "ridge", "l2": 0.01},
    ]
    exp = client.post("/api/experiments", json=body).json()
    queued = client.get(f"/api/experiments/{exp['id']}/summary").json()
    assert [a["epochs_done"] for a in queued["arms"]] == [0, 0, 0]
    assert all(a["final_val_acc"] is None and a["vs_reference"]["final_val_acc"] is None
               for a in queued["arms"])  # fmt: skip

    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    out = client.get(f"/api/experiments/{exp['id']}/summary").json()
    ids = [r["id"] for r in exp["runs"]]
    assert out["reference"] == ids[1]
    assert [a["run_id"] for a in out["arms"]] == ids
    want = {
        r["id"]: expected(client.get(f"/api/runs/{r['id']}/metrics").json()["epochs"])
        for r in exp["runs"]
    }
    ref = want[ids[1]]
    for arm in out["arms"]:
        w = want[arm["run_id"]]
        assert arm["status"] == "succeeded" and arm["epochs_done"] == 3
        assert arm["dead_units"] is not None and "dead_units" in arm["vs_reference"]
        for key, value in w.items():
            assert arm[key] == pytest.approx(value, abs=1e-12), (arm["name"], key)
        for key in FIGURES:
            diff = None if w[key] is None else w[key] - ref[key]
            assert arm["vs_reference"][key] == pytest.approx(diff, abs=1e-12), (arm["name"], key)
    assert all(v == 0 for v in out["arms"][1]["vs_reference"].values())
    # The marks: the highest accuracy, the lowest gap, the sparsest first layer.
    by_id = {a["run_id"]: a for a in out["arms"]}
    assert by_id[out["best"]["final_val_acc"]]["final_val_acc"] == max(
        w["final_val_acc"] for w in want.values()
    )
    assert by_id[out["best"]["final_gap"]]["final_gap"] == min(
        w["final_gap"] for w in want.values()
    )
    assert by_id[out["best"]["dead_units"]]["dead_units"] == min(
        w["dead_units"] for w in want.values()
    )


def test_reference_is_a_sweeps_zero_arm_wherever_it_is(client, engine):
    # Stored with the zero arm last (the form puts it first): the rule, not the order, finds it.
    config = {**SMALL_THREE_ARMS, "sweep": {"param": "l2", "from": 0.001, "to": 0.01, "points": 2}}
    config.pop("runs", None)
    arms = [("l2=0.001", {"l2": 0.001}), ("l2=0.01", {"l2": 0.01}), ("l2=0", {"l2": 0.0})]
    exp = queue.create_experiment(engine, "sweep", config, arms)
    out = client.get(f"/api/experiments/{exp.id}/summary").json()
    assert out["reference"] == out["arms"][2]["run_id"]
    assert [a["name"] for a in out["arms"]] == ["l2=0.001", "l2=0.01", "l2=0"]


def test_reference_is_the_first_arm_otherwise(client):
    body = {**SMALL_THREE_ARMS, "runs": [{"name": "wide", "l2": 0.01}, {"name": "Original-ish"}]}
    exp = client.post("/api/experiments", json=body).json()
    out = client.get(f"/api/experiments/{exp['id']}/summary").json()
    assert out["reference"] == exp["runs"][0]["id"]
    assert [a["name"] for a in out["arms"]] == ["wide", "Original-ish"]


def test_unknown_experiment_summary_answers_404(client):
    assert client.get("/api/experiments/999/summary").status_code == 404
