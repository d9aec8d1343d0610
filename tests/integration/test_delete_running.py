"""Deleting an experiment while a real worker process trains it: the worker's fenced writes fail,
it drops the run without crashing, and it trains the next one."""

import httpx
from sqlmodel import select

from store.engine import get_engine, read_session
from store.models import Change, EpochMetric, Histogram, Run, RunState
from tests.conftest import wait_for

SMALL = {"train_per_class": 30, "val_per_class": 20, "hidden": 64}


def test_a_worker_holding_a_deleted_run_stops_writing_and_takes_the_next(processes, settings):
    settings.resume_every = "0"  # a resume state after every epoch: it must go too
    url = processes.server()
    worker = processes.worker()
    doomed = httpx.post(
        f"{url}/api/experiments", json={**SMALL, "epochs": 200, "runs": [{"name": "long"}]}
    ).json()
    run_id = doomed["runs"][0]["id"]

    def training():
        run = httpx.get(f"{url}/api/runs/{run_id}").json()
        return run if run["status"] == "running" and run["epochs_done"] >= 2 else None

    held_by = wait_for(training, timeout=120, what="the long run to train")["worker_id"]
    engine = get_engine(settings.db_url)
    with read_session(engine) as s:
        assert s.get(RunState, run_id) is not None

    assert httpx.delete(f"{url}/api/experiments/{doomed['id']}").status_code == 204
    assert httpx.get(f"{url}/api/experiments/{doomed['id']}").status_code == 404

    nxt = httpx.post(
        f"{url}/api/experiments", json={**SMALL, "epochs": 1, "runs": [{"name": "next"}]}
    ).json()

    def done():
        got = httpx.get(f"{url}/api/experiments/{nxt['id']}").json()
        return got if got["status"] == "succeeded" else None

    finished = wait_for(done, timeout=120, what="the next experiment to succeed")
    assert finished["runs"][0]["worker_id"] == held_by  # the same worker took it
    assert worker.poll() is None  # and it is still running
    with read_session(engine) as s:
        for model in (EpochMetric, Histogram, RunState, Change):
            assert s.exec(select(model).where(model.run_id == run_id)).all() == [], model
        assert s.get(Run, run_id) is None
    logs = processes.logs()
    assert f"run {run_id}: the claim was taken back; dropping the run" in logs
    assert "Traceback" not in logs
