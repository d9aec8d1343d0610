"""GET /api/workers and the page's workers panel, from Worker and Supervisor rows on a real
SQLite file; liveness from real processes."""

import os
from datetime import timedelta

from sqlalchemy import update

from store import procs, queue
from store.engine import write_session
from store.models import Supervisor, utcnow
from tests.factories import QUEUED

CFG = {**QUEUED, "epochs": 5}
FAR = "another-boot/pid:[1]"  # a node other than this one: judged by its heartbeat only


def test_no_worker_and_arms_waiting_is_a_warning(client, engine):
    assert client.get("/api/workers").json() == {
        "workers": [],
        "queued": 0,
        "supervisors": [],
        "warning": None,
    }
    queue.create_experiment(engine, "x", CFG, [("a", {}), ("b", {})])
    answer = client.get("/api/workers").json()
    assert answer["queued"] == 2
    assert answer["warning"] == (
        "2 arms wait and no worker is running: start one with `reglab worker`."
    )
    panel = client.get("/fragments/workers").text
    assert "2 arms wait and no worker is running" in panel and "<code>reglab worker</code>" in panel


def test_a_supervisor_that_gave_up_says_why(client, engine):
    queue.create_experiment(engine, "x", CFG, [("a", {})])
    row = Supervisor(
        id="up-1",
        host="here",
        pid=os.getpid(),
        node=procs.node(),
        pid_start=procs.start_ticks(os.getpid()),
        workers=1,
        restarts=4,
        gave_up="reglab up gave up on worker 1: it crashed 5 times in a row.",
    )
    queue.beat_supervisor(engine, row)
    gone = Supervisor(id="up-2", host="far", pid=1, node=FAR, workers=1, gave_up="old news")
    queue.beat_supervisor(engine, gone)
    with write_session(engine) as s:
        old = utcnow() - timedelta(minutes=2)
        s.exec(update(Supervisor).where(Supervisor.id == "up-2").values(heartbeat_at=old))
    answer = client.get("/api/workers").json()
    assert [(s["id"], s["restarts"], s["gave_up"]) for s in answer["supervisors"]] == [
        ("up-1", 4, "reglab up gave up on worker 1: it crashed 5 times in a row.")
    ]
    panel = client.get("/fragments/workers").text
    assert "it crashed 5 times in a row" in panel and "old news" not in panel
    assert "1 arm waits and no worker is running" in panel


def test_a_resumed_arms_card_says_what_the_resume_cost(client, engine):
    from store import reads

    exp = queue.create_experiment(engine, "x", {**CFG, "epochs": 10}, [("a", {})])
    first = queue.claim_next(engine, queue.register_worker(engine, "h", 1, "cpu"))
    assert queue.begin_training(engine, first, "cpu", {}, 0)
    metrics = dict.fromkeys(reads.METRIC_FIELDS, 0.5)
    for epoch in range(1, 6):
        state = b"state" if epoch == 3 else None
        assert queue.write_epoch(engine, first, epoch, metrics, {}, {}, resume=state)
    queue.release(engine, first, "gone", interruption="its worker stopped")
    second = queue.claim_next(engine, queue.register_worker(engine, "h", 2, "cpu"))
    assert queue.load_resume(engine, second) == (3, b"state")
    assert queue.begin_training(engine, second, "cpu", {}, from_epoch=3)

    def card() -> str:
        page = client.get(f"/experiments/{exp.id}").text
        start = page.index('class="hint run-resumed"')
        return " ".join(page[start : page.index("</p>", start)].split(">", 1)[1].split())

    assert card() == "resumed after epoch 3 when its worker stopped; epochs 4-5 being retrained"
    run = client.get(f"/api/runs/{second.run_id}").json()
    assert (run["interruption"], run["resumed_after"], run["retrain_through"]) == (
        "its worker stopped",
        3,
        5,
    )
    for epoch in (4, 5):
        assert queue.write_epoch(engine, second, epoch, metrics, {}, {})
    assert card() == "resumed after epoch 3 when its worker stopped; epochs 4-5 retrained"
