"""Living with experiments through the API: find, annotate, re-run, compare, export, delete."""

import csv
import io

import pytest
from sqlalchemy import text
from sqlmodel import select

from store.engine import read_session
from store.models import (
    Change,
)
from tests.factories import create
from worker.loop import Worker

# ---- delete ----


def test_ids_of_deleted_experiments_runs_and_changes_are_never_given_again(client, engine):
    first = create(client, runs=[{"name": "a"}])
    newest = create(client, runs=[{"name": "a"}, {"name": "b"}])
    with read_session(engine) as s:
        last_change = s.exec(select(Change.id).order_by(Change.id.desc())).first()
    assert client.delete(f"/api/experiments/{newest['id']}").status_code == 204
    again = create(client, runs=[{"name": "a"}])
    assert again["id"] > newest["id"] > first["id"]
    assert again["runs"][0]["id"] > newest["runs"][-1]["id"]
    with read_session(engine) as s:
        # A live feed at the deleted experiment's last change still reads the new ones.
        assert s.exec(select(Change.id).order_by(Change.id.desc())).first() > last_change
    assert client.get(f"/experiments/{newest['id']}").status_code == 404


def test_a_database_of_revision_0002_keeps_its_rows_and_stops_reusing_ids(tmp_path):
    from alembic import command
    from alembic.config import Config

    from store.engine import MIGRATIONS, get_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    import sqlalchemy

    old = sqlalchemy.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(
            text(
                "INSERT INTO experiment (id, name, created_at, config) VALUES "
                "(1, 'kept', '2026-01-01', '{\"dataset\": \"mnist\", \"epochs\": 1}'), "
                "(2, 'newest', '2026-01-01', '{\"dataset\": \"mnist\", \"epochs\": 1}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO run (id, experiment_id, name, config, status, attempts, "
                "cancel_requested, epochs_done, epochs_total, created_at) VALUES "
                "(1, 1, 'a', '{}', 'queued', 0, 0, 0, 1, '2026-01-01'), "
                "(2, 2, 'a', '{}', 'queued', 0, 0, 0, 1, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO change (id, experiment_id, run_id, kind, created_at) VALUES "
                "(1, 1, 1, 'status', '2026-01-01'), (2, 2, 2, 'status', '2026-01-01')"
            )
        )
    old.dispose()
    engine = get_engine(url)  # migrates to the newest revision
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("SELECT id, name, notes, tags FROM experiment").all() == [
            (1, "kept", "", ""),
            (2, "newest", "", ""),
        ]
        assert conn.exec_driver_sql("SELECT count(*) FROM change").scalar() == 2
    from store import queue

    assert queue.delete_experiment(engine, 2) is not None
    again = queue.create_experiment(engine, "new", {"dataset": "mnist", "epochs": 1}, [("a", {})])
    assert again.id == 3


# ---- annotate ----


@pytest.mark.parametrize(
    "body, loc, words",
    [
        ({"name": "   "}, ["body", "name"], "a name cannot be empty"),
        ({"name": "a\x00b"}, ["body", "name"], "control characters"),
        ({"name": "x" * 81}, ["body", "name"], "at most 80 characters"),
        ({"notes": "a\u202eb"}, ["body", "notes"], "text-direction"),
        ({"tags": ["two words"]}, ["body", "tags", 0], "a tag is one word"),
        ({"tags": ["a,b"]}, ["body", "tags", 0], "no spaces or commas"),
        ({"tags": [f"t{i}" for i in range(21)]}, ["body", "tags"], "at most 20 items"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
    ],
)
def test_bad_annotations_answer_422_in_plain_words(client, body, loc, words):
    exp = create(client, runs=[{"name": "a"}])
    r = client.patch(f"/api/experiments/{exp['id']}", json=body)
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == loc and words in err["msg"], err
    assert client.get(f"/api/experiments/{exp['id']}").json()["name"] == exp["name"]


def test_annotating_or_cloning_a_missing_experiment_answers_404(client):
    assert client.patch("/api/experiments/99", json={"name": "x"}).status_code == 404
    assert client.post("/api/experiments/99/clone").status_code == 404
    assert client.get("/api/experiments/99/metrics.csv").status_code == 404


# ---- find ----


def test_the_list_says_which_arm_is_best_and_names_say_what_differs(client, settings):
    exp = create(client, runs=[{"name": "Original"}, {"name": "Ridge", "l2": 0.001}])
    assert exp["name"] == "MNIST 10/class, 16 hidden, 2 ep: Original vs Ridge"
    assert exp["best"] is None
    Worker(settings).run_forever(exit_when_idle=True)
    [listed] = client.get("/api/experiments").json()
    best = listed["best"]
    path = client.get(f"/api/experiments/{exp['id']}/path").json()
    assert best["run_id"] == path["best_run_id"] and best["epoch"] == 2
    point = next(p for p in path["points"] if p["run_id"] == best["run_id"])
    assert best["val_acc"] == point["val_acc"] and best["name"] == point["name"]


# ---- re-run ----


# ---- compare ----


def test_compare_refuses_other_datasets_bad_ids_and_missing_runs(client):
    one = create(client, runs=[{"name": "a"}])
    two = create(client, dataset="kmnist", runs=[{"name": "a"}])
    r = client.get(f"/api/compare?runs={one['runs'][0]['id']},{two['runs'][0]['id']}")
    assert r.status_code == 422
    assert "different datasets (KMNIST, MNIST)" in r.json()["detail"][0]["msg"]
    for bad in ("", "a,b", "1;2", "-1", "0", "1.5", ",".join(str(i) for i in range(1, 18))):
        r = client.get(f"/api/compare?runs={bad}")
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"] == ["query", "runs"]
    for path in ("/api/compare", "/api/compare/curves", "/api/compare/histograms"):
        r = client.get(f"{path}?runs={one['runs'][0]['id']},999")
        assert r.status_code == 404 and r.json()["detail"] == "run 999 not found"


# ---- export ----


def test_metrics_csv_has_a_row_per_run_and_epoch_and_per_layer_columns(client, settings):
    exp = create(client, runs=[{"name": "=1+1"}, {"name": "b", "l1": 0.0001}])
    Worker(settings).run_forever(exit_when_idle=True)
    r = client.get(f"/api/experiments/{exp['id']}/metrics.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "metrics.csv" in r.headers["content-disposition"]
    [head, *rows] = list(csv.reader(io.StringIO(r.text)))
    assert head[:5] == ["run_id", "arm", "status", "epoch", "train_loss"]
    assert "linear_1.weight.mean_abs" in head and "linear_1.bias.l1" in head
    assert [(row[1], row[3]) for row in rows] == [
        ("'=1+1", "1"),
        ("'=1+1", "2"),
        ("b", "1"),
        ("b", "2"),
    ]
    metrics = client.get(f"/api/runs/{exp['runs'][1]['id']}/metrics").json()["epochs"]
    col = head.index("linear_1.weight.zero_frac")
    assert float(rows[3][col]) == metrics[1]["layers"]["linear_1.weight"]["zero_frac"]
    assert float(rows[3][head.index("val_acc")]) == metrics[1]["val_acc"]
