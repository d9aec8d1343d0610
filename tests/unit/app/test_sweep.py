"""Lambda sweeps: the grid, the path the API and the page report, and what it shows on MNIST."""

import csv
import io
import math

import pytest

from tests.conftest import needs_real_mnist
from tests.factories import FORM, SMALL
from worker.loop import Worker


def sweep(client, **kw):
    return client.post("/api/experiments", json={**SMALL, "sweep": kw})


def test_log_grid_with_a_zero_arm(client):
    r = sweep(client, param="l2", **{"from": 1e-6}, to=0.1, points=6, include_zero=True)
    assert r.status_code == 201, r.text
    exp = r.json()
    values = [run["sweep_value"] for run in exp["runs"]]
    assert values[0] == 0 and len(values) == 7
    ratios = [values[i + 1] / values[i] for i in range(1, 6)]
    assert all(math.isclose(q, 10.0, rel_tol=1e-4) for q in ratios)  # log-spaced: 1e-6 ... 1e-1
    assert math.isclose(values[1], 1e-6) and math.isclose(values[-1], 0.1)
    assert exp["sweep"] == {
        "param": "l2",
        "from": 1e-6,
        "to": 0.1,
        "points": 6,
        "include_zero": True,
    }
    assert [run["config"]["l2"] for run in exp["runs"]] == values
    assert exp["runs"][3]["name"] == "l2=0.0001"


def test_linear_grid_for_dropout_and_the_mix(client):
    r = sweep(client, param="dropout", **{"from": 0}, to=0.6, points=4, include_zero=True)
    assert [x["sweep_value"] for x in r.json()["runs"]] == [0.0, 0.2, 0.4, 0.6]
    r = sweep(client, param="mix", **{"from": 1e-4}, to=1e-2, points=3, include_zero=False)
    runs = r.json()["runs"]
    assert [x["config"]["l1_layers"] for x in runs] == [[1e-4, 0], [1e-3, 0], [1e-2, 0]]
    assert [x["config"]["l2_layers"] for x in runs] == [[0, 1e-4], [0, 1e-3], [0, 1e-2]]


@pytest.mark.parametrize(
    "bad",
    [
        {"points": 1},
        {"points": 16},
        {"from": 0.1, "to": 0.01},
        {"from": 0, "to": 0.1},
        {"param": "dropout", "from": 0, "to": 1},
        {"param": "lr"},
        {"to": 2},
        {"from": "nan"},
    ],
)
def test_bad_grids_answer_422(client, bad):
    assert sweep(client, **{"param": "l2", "from": 1e-4, "to": 0.1, **bad}).status_code == 422
    assert client.get("/api/experiments").json() == []


def test_runs_and_a_sweep_together_are_refused(client):
    r = client.post(
        "/api/experiments", json={**SMALL, "runs": [{"name": "a"}], "sweep": {"param": "l2"}}
    )
    assert r.status_code == 422 and "either runs or a sweep" in r.text


def test_the_form_sweeps_too(client):
    form = {
        **FORM,
        "runs.0.name": "ignored",
        "sweep.enabled": "on",
        "sweep.param": "prox_l1",
        "sweep.from": "0.01",
        "sweep.to": "1",
        "sweep.points": "3",
        "sweep.include_zero": "on",
    }
    r = client.post("/experiments", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 201, r.text
    exp = client.get(r.headers["HX-Redirect"].replace("/experiments", "/api/experiments")).json()
    assert [x["sweep_value"] for x in exp["runs"]] == [0, 0.01, 0.1, 1.0]
    bad = client.post(
        "/experiments", data={**form, "sweep.from": "2"}, headers={"HX-Request": "true"}
    )
    assert bad.status_code == 422 and 'id="error-sweep-from"' in bad.text


def test_path_and_table_have_one_point_per_arm(client, settings):
    exp = sweep(client, param="l2", **{"from": 1e-4}, to=1e-1, points=3, include_zero=True).json()
    empty = client.get(f"/api/experiments/{exp['id']}/path").json()
    assert [p["epoch"] for p in empty["points"]] == [0, 0, 0, 0] and empty["best_run_id"] is None
    assert Worker(settings).run_forever(exit_when_idle=True) == 4
    path = client.get(f"/api/experiments/{exp['id']}/path").json()
    assert path["param"] == "l2" and len(path["points"]) == 4
    assert [p["value"] for p in path["points"]] == [0, 1e-4, 0.00316228, 0.1]
    assert all(p["epoch"] == 2 and p["status"] == "succeeded" for p in path["points"])
    best = max(path["points"], key=lambda p: p["val_acc"])
    assert path["best_run_id"] == best["run_id"] and best["checkpoint_url"]
    assert set(path["points"][0]["layers"]) == {"linear_1.weight", "linear_2.weight"}
    r = client.get(f"/api/experiments/{exp['id']}/path.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 4 and rows[0]["l2"] == "0.0" and "linear_1.weight.zero_frac" in rows[0]
    assert float(rows[2]["val_acc"]) == path["points"][2]["val_acc"]


def _train_path(client, settings, **grid):
    body = {"epochs": 4, "sweep": {"points": 5, "include_zero": True, **grid}}  # the tutorial
    exp = client.post("/api/experiments", json=body).json()
    Worker(settings).run_forever(exit_when_idle=True)
    return client.get(f"/api/experiments/{exp['id']}/path").json()["points"]


@needs_real_mnist
def test_first_layer_weights_shrink_as_the_l2_lambda_grows(client, settings):
    points = _train_path(client, settings, param="l2", **{"from": 1e-5}, to=1e-1)
    sizes = [p["layers"]["linear_1.weight"]["mean_abs"] for p in points]  # 0, 1e-5 ... 1e-1
    # Monotone within noise: each step down, or up by at most 1 %.
    assert all(b <= a * 1.01 for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert sizes[-1] < 0.3 * sizes[0]


@needs_real_mnist
def test_exact_zeros_rise_with_the_proximal_l1_lambda(client, settings):
    points = _train_path(client, settings, param="prox_l1", **{"from": 1e-3}, to=1.0)
    zeros = [p["layers"]["linear_1.weight"]["zero_frac"] for p in points]
    assert zeros[0] == 0 and zeros[-1] > 0.5
    assert all(b >= a - 0.01 for a, b in zip(zeros, zeros[1:], strict=False)), zeros
