"""Living with experiments through the API: find, annotate, re-run, compare, export, delete."""

import csv
import io

import pytest
from sqlalchemy import text
from sqlmodel import select

from store.engine import read_session, write_session
from store.models import (
    ArtifactBlob,
    Change,
    Checkpoint,
    EpochMetric,
    Experiment,
    Histogram,
    Run,
    RunState,
)
from worker.loop import Worker

TINY = {"train_per_class": 10, "val_per_class": 10, "epochs": 2, "hidden": 16, "batch_size": 32}


@pytest.fixture
def any_client(backend, settings):
    """An in-process client on SQLite, then on a real PostgreSQL."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    if backend:
        settings.database_url = backend
    with TestClient(create_app(settings)) as c:
        yield c


def create(client, **fields):
    r = client.post("/api/experiments", json={**TINY, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def rows_of(engine, model, run_ids):
    with read_session(engine) as s:
        return s.exec(select(model).where(model.run_id.in_(run_ids))).all()


# ---- delete ----


@pytest.mark.parametrize("storage", ["file", "db", "db on postgresql"])
def test_delete_removes_everything_of_the_experiment_and_nothing_else(request, settings, storage):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from store.engine import get_engine

    if storage == "db on postgresql":
        settings.database_url = request.getfixturevalue("pg_url")
        storage = "db"
    settings.artifacts = storage
    engine = get_engine(settings.db_url)
    with TestClient(create_app(settings)) as client:
        _delete_everything(client, engine, settings, storage)


def _delete_everything(client, engine, settings, storage):
    doomed = create(client, epochs=1, runs=[{"name": "=1+1"}, {"name": "b", "l2": 0.01}])
    kept = create(client, epochs=1, runs=[{"name": "kept"}])
    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    run_ids = [r["id"] for r in doomed["runs"]]
    files = sorted(p.name for p in settings.checkpoints.glob("*")) if storage == "file" else []
    if storage == "file":
        assert files == [f"run-{i}.{f}" for i in (1, 2, 3) for f in ("pt", "safetensors")]
    with write_session(engine) as s:  # a resume state, as a run interrupted mid-way keeps one
        s.add(RunState(run_id=run_ids[0], epoch=1, data=b"state"))
    assert rows_of(engine, Checkpoint, run_ids) and rows_of(engine, EpochMetric, run_ids)

    assert client.delete(f"/api/experiments/{doomed['id']}").status_code == 204

    for model in (EpochMetric, Histogram, Checkpoint, RunState, Change):
        assert rows_of(engine, model, run_ids) == [], model.__name__
    with read_session(engine) as s:
        assert s.exec(select(ArtifactBlob)).all() == [] or storage == "db"
        assert s.get(Experiment, doomed["id"]) is None
        assert s.exec(select(Run).where(Run.experiment_id == doomed["id"])).all() == []
        kept_ckpts = s.exec(select(Checkpoint).where(Checkpoint.run_id == 3)).all()
        assert len(kept_ckpts) == 2
        if storage == "db":
            blob_ids = {b.checkpoint_id for b in s.exec(select(ArtifactBlob)).all()}
            assert blob_ids == {c.id for c in kept_ckpts}  # the deleted arms' bytes are gone
    if storage == "file":
        left = sorted(p.name for p in settings.checkpoints.glob("*"))
        assert left == ["run-3.pt", "run-3.safetensors"]
    for path in (
        f"/api/experiments/{doomed['id']}",
        f"/api/experiments/{doomed['id']}/curves",
        f"/api/experiments/{doomed['id']}/metrics.csv",
        f"/api/runs/{run_ids[0]}",
        f"/api/runs/{run_ids[0]}/checkpoint",
        f"/experiments/{doomed['id']}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.delete(f"/api/experiments/{doomed['id']}").status_code == 404
    # The other experiment is whole: its checkpoint still downloads.
    assert client.get(f"/api/runs/{kept['runs'][0]['id']}/checkpoint").status_code == 200


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


def test_rename_note_and_tag(any_client):
    client = any_client
    exp = create(client, runs=[{"name": "a"}])
    r = client.patch(
        f"/api/experiments/{exp['id']}",
        json={
            "name": "  Wide net  ",
            "notes": "first try\n\tλ too high?",
            "tags": ["wide", "Wide", "v2"],
        },
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["notes"], got["tags"]) == (
        "Wide net",
        "first try\n\tλ too high?",
        ["wide", "v2"],
    )
    # Fields left out stay; an empty list clears the tags.
    r = client.patch(f"/api/experiments/{exp['id']}", json={"tags": []})
    assert (r.json()["name"], r.json()["notes"], r.json()["tags"]) == ("Wide net", got["notes"], [])
    assert client.get(f"/api/experiments/{exp['id']}").json()["name"] == "Wide net"


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


def test_search_filters_and_pages(any_client):
    client = any_client
    a = create(client, name="Lasso on MNIST", runs=[{"name": "a"}])
    b = create(client, dataset="fashion_mnist", runs=[{"name": "a"}])
    c = create(client, name="Ridge", runs=[{"name": "a"}])
    client.patch(
        f"/api/experiments/{b['id']}", json={"tags": ["baseline"], "notes": "the LASSO one"}
    )
    client.post(f"/api/experiments/{c['id']}/cancel")

    def ids(query):
        r = client.get(f"/api/experiments?{query}")
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()], int(r.headers["x-total-count"])

    assert ids("") == ([c["id"], b["id"], a["id"]], 3)
    assert ids("q=lasso") == ([b["id"], a["id"]], 2)  # the name, or the notes, any case
    assert ids("q=BASE") == ([b["id"]], 1)  # a tag
    assert ids("tag=Baseline") == ([b["id"]], 1)
    assert ids("tag=base") == ([], 0)  # a tag is matched whole
    assert ids("q=%25") == ([], 0)  # % is a character, not a wildcard
    assert ids("status=cancelled") == ([c["id"]], 1)
    assert ids("status=queued") == ([b["id"], a["id"]], 2)
    assert ids("dataset=fashion_mnist") == ([b["id"]], 1)
    assert ids("limit=1&offset=1") == ([b["id"]], 3)
    r = client.get("/api/experiments?status=done")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "status"]
    r = client.get("/api/experiments?q=a%00b")
    assert r.status_code == 422 and "control characters" in r.json()["detail"][0]["msg"]


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


def test_run_again_makes_a_new_queued_experiment_with_the_same_settings(any_client):
    client = any_client
    exp = create(
        client, name="mine", runs=[{"name": "a"}, {"name": "b", "l1": 0.0001, "optimizer": "sgd"}]
    )
    client.post(f"/api/experiments/{exp['id']}/cancel")
    r = client.post(f"/api/experiments/{exp['id']}/clone")
    assert r.status_code == 201
    again = r.json()
    assert again["id"] != exp["id"] and again["status"] == "queued" and again["name"] == "mine"
    assert again["config"] == exp["config"]
    assert [(x["name"], x["config"]) for x in again["runs"]] == [
        (x["name"], x["config"]) for x in exp["runs"]
    ]
    sweep = create(client, sweep={"param": "dropout", "from": 0, "to": 0.5, "points": 3})
    again = client.post(f"/api/experiments/{sweep['id']}/clone").json()
    assert again["sweep"] == sweep["sweep"] and again["name"] == sweep["name"]
    assert [x["name"] for x in again["runs"]] == ["dropout=0", "dropout=0.25", "dropout=0.5"]


# ---- compare ----


def test_compare_lists_only_the_settings_that_differ(any_client):
    client = any_client
    one = create(client, runs=[{"name": "a"}, {"name": "b", "l1": 0.0001}])
    two = create(client, hidden=32, runs=[{"name": "c", "l1": 0.0001}])
    runs = f"{one['runs'][1]['id']},{two['runs'][0]['id']}"
    r = client.get(f"/api/compare?runs={runs}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["differing"] == ["hidden"]
    assert got["shared"]["l1"] == 0.0001 and got["shared"]["dataset"] == "mnist"
    assert [(x["name"], x["experiment_id"]) for x in got["runs"]] == [
        ("b", one["id"]),
        ("c", two["id"]),
    ]
    r = client.get(f"/api/compare?runs={one['runs'][0]['id']},{runs}")
    assert r.json()["differing"] == ["hidden", "l1"]
    curves = client.get(f"/api/compare/curves?runs={runs}").json()
    assert [c["run_id"] for c in curves["runs"]] == [one["runs"][1]["id"], two["runs"][0]["id"]]
    hists = client.get(f"/api/compare/histograms?runs={runs}").json()
    assert [h["epoch"] for h in hists["runs"]] == [None, None]


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
