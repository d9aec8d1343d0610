"""Managing experiments through the API on the SQLite file and on a real PostgreSQL: delete,
annotate, search, run again, compare."""

import pytest
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
from tests.factories import create
from worker.loop import Worker


@pytest.fixture
def any_client(backend, settings):
    """An in-process client on SQLite, then on a real PostgreSQL."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    if backend:
        settings.database_url = backend
    with TestClient(create_app(settings)) as c:
        yield c


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


def rows_of(engine, model, run_ids):
    with read_session(engine) as s:
        return s.exec(select(model).where(model.run_id.in_(run_ids))).all()
