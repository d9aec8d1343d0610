"""The JSON API against a real SQLite file (in-process ASGI client; the e2e test uses real HTTP)."""

import io

import pytest
import torch
from sqlmodel import select

from store.engine import read_session
from store.models import Experiment, Run
from tests.factories import SMALL_THREE_ARMS
from worker.loop import Worker


def count_rows(engine):
    with read_session(engine) as s:
        return len(s.exec(select(Experiment)).all()), len(s.exec(select(Run)).all())


def test_create_answers_201_with_runs(client):
    r = client.post("/api/experiments", json=SMALL_THREE_ARMS)
    assert r.status_code == 201
    body = r.json()
    assert [(x["name"], x["status"]) for x in body["runs"]] == [
        ("original", "queued"),
        ("lasso", "queued"),
        ("ridge", "queued"),
    ]
    assert body["runs"][1]["config"]["l1"] == 0.0001 and body["runs"][1]["config"]["l2"] == 0
    got = client.get(f"/api/experiments/{body['id']}").json()
    assert got["status"] == "queued" and got["config"]["hidden"] == 32


def test_defaults_are_the_tutorial(client):
    r = client.post("/api/experiments", json={})
    cfg = r.json()["config"]
    assert (
        cfg["dataset"],
        cfg["train_per_class"],
        cfg["hidden"],
        cfg["epochs"],
        cfg["batch_size"],
        cfg["lr"],
        cfg["optimizer"],
        cfg["seed"],
    ) == ("mnist", 100, 500, 20, 32, 0.001, "adam", 0)
    assert [(x["name"], x["config"]["l1"], x["config"]["l2"]) for x in r.json()["runs"]] == [
        ("Original", 0, 0),
        ("Lasso", 0.0001, 0),
        ("Ridge", 0, 0.001),
    ]


@pytest.mark.parametrize(
    "patch",
    [
        {"epochs": 0},
        {"epochs": 10_000},
        {"lr": -1},
        {"batch_size": "many"},
        {"dataset": "imagenet"},
        {"optimizer": "lbfgs"},
        {"precision": "fp16"},
        {"hidden": 10**9},
        {"runs": []},
        {"surprise": 1},
        {"runs": [{"name": "a", "l1": -0.1}]},
        {"runs": [{"name": "a"}, {"name": "A"}]},
        {"runs": [{"name": ""}]},
        {"runs": [{"name": "a", "l2": "nan"}]},
    ],
)
def test_invalid_input_answers_422_and_creates_nothing(client, engine, patch):
    before = count_rows(engine)
    r = client.post("/api/experiments", json={**SMALL_THREE_ARMS, **patch})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert count_rows(engine) == before


def test_nan_in_raw_json_is_refused(client, engine):
    r = client.post(
        "/api/experiments", content=b'{"lr": NaN}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert count_rows(engine) == (0, 0)


def test_list_is_newest_first(client):
    ids = [client.post("/api/experiments", json=SMALL_THREE_ARMS).json()["id"] for _ in range(3)]
    assert [e["id"] for e in client.get("/api/experiments").json()] == ids[::-1]
    assert [e["id"] for e in client.get("/api/experiments?limit=1&offset=1").json()] == [ids[1]]


@pytest.mark.parametrize(
    "path",
    [
        "/api/experiments/999",
        "/api/runs/999",
        "/api/runs/999/metrics",
        "/api/runs/999/histograms",
        "/api/runs/999/checkpoint",
        "/experiments/999",
        "/api/experiments/999/events",
    ],
)
def test_unknown_ids_answer_404(client, path):
    assert client.get(path).status_code == 404


def test_unknown_id_cancel_answers_404(client):
    assert client.post("/api/experiments/999/cancel").status_code == 404


def test_cancel_queued_experiment(client):
    exp = client.post("/api/experiments", json=SMALL_THREE_ARMS).json()
    r = client.post(f"/api/experiments/{exp['id']}/cancel")
    assert r.status_code == 200
    assert r.json()["cancelled"] == 3 and r.json()["experiment"]["status"] == "cancelled"
    assert {x["status"] for x in r.json()["experiment"]["runs"]} == {"cancelled"}


def test_trained_run_serves_metrics_histograms_and_checkpoint(client, settings):
    exp = client.post("/api/experiments", json=SMALL_THREE_ARMS).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    got = client.get(f"/api/experiments/{exp['id']}").json()
    assert got["status"] == "succeeded"
    lasso = got["runs"][1]
    assert lasso["device"] == "cpu" and lasso["epochs_done"] == 2

    metrics = client.get(f"/api/runs/{lasso['id']}/metrics").json()["epochs"]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[0]["penalty"] > 0 and 0 < metrics[1]["val_acc"] <= 1
    assert set(metrics[1]["layers"]["linear_1.weight"]) >= {"mean_abs", "l1", "l2_sq", "zero_frac"}

    hist = client.get(f"/api/runs/{lasso['id']}/histograms?epoch=1").json()
    layer = hist["layers"]["linear_1.weight"]
    assert hist["epoch"] == 1 and len(layer["edges"]) == len(layer["counts"]) + 1
    assert sum(layer["counts"]) == 784 * 32
    # Bin edges are shared by all arms of the experiment, so their histograms overlay.
    original = client.get(f"/api/runs/{got['runs'][0]['id']}/histograms").json()
    assert original["layers"]["linear_1.weight"]["edges"] == layer["edges"]
    assert client.get(f"/api/runs/{lasso['id']}/histograms?epoch=9").status_code == 404

    r = client.get(lasso["checkpoint_url"])
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ckpt = torch.load(io.BytesIO(r.content), weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["config"]["l1"] == 0.0001
    assert ckpt["metrics"]["val_acc"] == metrics[-1]["val_acc"]
    assert set(ckpt["state_dict"]) == {"linear_1.weight", "linear_1.bias", "linear_2.weight"}
    st = client.get(lasso["checkpoint_url"] + "?format=safetensors")
    assert st.status_code == 200 and st.content[8:9] == b"{"  # safetensors: u64 length, JSON header
    assert client.get(lasso["checkpoint_url"] + "?format=../../etc/passwd").status_code == 422


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/experiments" in paths and "/api/runs/{run_id}/checkpoint" in paths
