"""Queue semantics on a real SQLite file (and a real PostgreSQL where a test says so): atomic
claims, fencing, cancel, stalled runs."""

import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from store import queue, reads
from store.engine import (
    SQLITE_PAGE_SIZE,
    get_engine,
    read_session,
    write_session,
)
from store.models import Change, EpochMetric, Run, RunStatus, utcnow
from tests.factories import QUEUED


def make(engine, n_arms=3):
    return queue.create_experiment(
        engine, "x", QUEUED, [(f"arm{i}", {"l1": 0.0}) for i in range(n_arms)]
    )


def statuses(engine, experiment_id):
    with read_session(engine) as s:
        return [
            r.status
            for r in s.exec(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
        ]


def test_create_writes_experiment_runs_and_changes_together(engine):
    exp = make(engine)
    assert statuses(engine, exp.id) == ["queued"] * 3
    with read_session(engine) as s:
        assert len(s.exec(select(Change)).all()) == 3


def test_claims_oldest_first_and_merges_configs(engine):
    make(engine)
    w = queue.register_worker(engine, "h", 1, "cpu")
    c = queue.claim_next(engine, w)
    assert c.name == "arm0" and c.attempt == 1
    assert c.config == {**QUEUED, "l1": 0.0, "arm": "arm0"}


def test_concurrent_claimers_never_share_a_run(engine):
    make(engine, n_arms=40)
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer():
        w = queue.register_worker(engine, "h", threading.get_ident(), "cpu")
        while (c := queue.claim_next(engine, w)) is not None:
            with lock:
                claimed.append(c.run_id)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(1, 41))


def test_writes_are_fenced_by_the_claim_token(engine):
    make(engine, 1)
    w = queue.register_worker(engine, "h", 1, "cpu")
    claim = queue.claim_next(engine, w)
    # The run is taken back (as a stall sweep would) and claimed again by another worker.
    with write_session(engine) as s:
        s.exec(update(Run).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert queue.requeue_stalled(engine, timeout_s=30, max_attempts=3) == [claim.run_id]
    second = queue.claim_next(engine, queue.register_worker(engine, "h", 2, "cpu"))
    assert second.attempt == 2
    metrics = dict.fromkeys(reads.METRIC_FIELDS, 0.5)
    assert not queue.write_epoch(engine, claim, 1, metrics, {}, {})
    assert not queue.heartbeat(engine, [claim], w)
    assert not queue.finish(engine, claim, RunStatus.succeeded)
    assert queue.write_epoch(engine, second, 1, metrics, {}, {})
    with read_session(engine) as s:
        assert len(s.exec(select(EpochMetric)).all()) == 1
        assert s.get(Run, claim.run_id).status == RunStatus.running


def test_stalled_run_fails_after_max_attempts(engine):
    make(engine, 1)
    for attempt in range(1, 4):
        c = queue.claim_next(engine, queue.register_worker(engine, "h", attempt, "cpu"))
        assert c.attempt == attempt
        with write_session(engine) as s:
            s.exec(update(Run).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
        queue.requeue_stalled(engine, timeout_s=30, max_attempts=3)
    with read_session(engine) as s:
        run = s.exec(select(Run)).one()
    assert run.status == RunStatus.failed
    assert "Gave up after 3 attempts" in run.error


def test_cancel_stops_queued_at_once_and_flags_running(engine):
    exp = make(engine, 2)
    w = queue.register_worker(engine, "h", 1, "cpu")
    c = queue.claim_next(engine, w)
    assert queue.request_cancel(engine, exp.id) == {"cancelled": 1, "stopping": 1}
    assert statuses(engine, exp.id) == ["running", "cancelled"]
    with queue.CancelCheck(engine, [c]) as cancel_requested:
        assert cancel_requested()
    assert queue.finish(engine, c, RunStatus.cancelled)
    assert statuses(engine, exp.id) == ["cancelled", "cancelled"]


def test_release_puts_the_run_back_for_another_worker(engine):
    make(engine, 1)
    c = queue.claim_next(engine, queue.register_worker(engine, "h", 1, "cpu"))
    assert queue.release(engine, c, "shutting down")
    c2 = queue.claim_next(engine, queue.register_worker(engine, "h", 2, "cpu"))
    assert c2.run_id == c.run_id and c2.token != c.token


def test_change_feed_is_ordered_and_resumable(engine):
    make(engine, 2)
    first = reads.changes_since(engine, 0)
    assert [c.id for c in first] == sorted(c.id for c in first)
    assert reads.changes_since(engine, first[-1].id) == []
    c = queue.claim_next(engine, queue.register_worker(engine, "h", 1, "cpu"))
    new = reads.changes_since(engine, first[-1].id)
    assert [(x.run_id, x.kind) for x in new] == [(c.run_id, "status")]


def test_a_group_claims_queued_siblings_under_one_token(engine):
    exp = make(engine, 4)
    w = queue.register_worker(engine, "h", 1, "cpu")
    first = queue.claim_next(engine, w)
    siblings = queue.queued_siblings(engine, first)
    assert [q.run_id for q in siblings] == [2, 3, 4] and siblings[0].resume_epoch == 0
    # Another worker takes run 3 in between: the group gets what is still queued.
    other = queue.claim_next(engine, queue.register_worker(engine, "h", 2, "cpu"))
    assert other.run_id == 2
    more = queue.claim_more(engine, w, first, [2, 3, 4])
    assert [c.run_id for c in more] == [3, 4] and {c.token for c in more} == {first.token}
    assert statuses(engine, exp.id) == ["running"] * 4


def claimed_pair(engine) -> tuple[queue.Claim, queue.Claim]:
    """Two arms claimed together, as a worker claims a lockstep group."""
    make(engine, 2)
    w = queue.register_worker(engine, "h", 1, "cpu")
    a = queue.claim_next(engine, w)
    (b,) = queue.claim_more(engine, w, a, [2])
    return a, b


def epoch_rows(*arms: tuple[queue.Claim, int]) -> list[queue.EpochRow]:
    """An EpochRow per (claim, epoch), with placeholder metrics."""
    metrics = dict.fromkeys(reads.METRIC_FIELDS, 0.5)
    return [queue.EpochRow(claim, epoch, metrics, {}, {}) for claim, epoch in arms]


def test_group_epochs_commit_together_or_not_at_all(engine):
    a, b = claimed_pair(engine)
    assert queue.write_epochs(engine, epoch_rows((a, 1), (b, 1)))
    with read_session(engine) as s:  # one fenced UPDATE advanced both arms
        assert [s.get(Run, c.run_id).epochs_done for c in (a, b)] == [1, 1]
    queue.release(engine, b, "taken away")  # b's claim is gone
    assert not queue.write_epochs(engine, epoch_rows((a, 2), (b, 2)))
    with read_session(engine) as s:
        assert sorted((m.run_id, m.epoch) for m in s.exec(select(EpochMetric))) == [(1, 1), (2, 1)]


def test_a_group_write_refuses_arms_at_different_epochs(engine):
    a, b = claimed_pair(engine)
    with pytest.raises(ValueError, match="one epoch"):
        queue.write_epochs(engine, epoch_rows((a, 1), (b, 2)))
    with read_session(engine) as s:
        assert s.exec(select(EpochMetric)).all() == []


def test_a_lagging_resume_state_drops_the_epochs_after_it(engine):
    make(engine, 1)
    c = queue.claim_next(engine, queue.register_worker(engine, "h", 1, "cpu"))
    queue.begin_training(engine, c, "cpu", {}, 0)
    metrics = dict.fromkeys(reads.METRIC_FIELDS, 0.5)
    queue.write_epoch(engine, c, 1, metrics, {}, {})
    # a bytearray, as the worker's snapshot is: stored as it is, read back as bytes
    queue.write_epoch(engine, c, 2, metrics, {}, {}, resume=bytearray(b"state after 2"))
    queue.write_epoch(engine, c, 3, metrics, {}, {})  # no state: saved at most every few seconds
    queue.release(engine, c, "worker gone", interruption="its worker shut down")
    c2 = queue.claim_next(engine, queue.register_worker(engine, "h", 2, "cpu"))
    assert queue.load_resume(engine, c2) == (2, b"state after 2")
    assert queue.begin_training(engine, c2, "cpu", {}, from_epoch=2)
    with read_session(engine) as s:
        assert [m.epoch for m in s.exec(select(EpochMetric).order_by(EpochMetric.epoch))] == [1, 2]
        run = s.get(Run, c2.run_id)
        assert run.epochs_done == 2
        # What the card tells: resumed after epoch 2 when its worker shut down; 3 retrained.
        assert (run.resumed_after, run.retrain_through) == (2, 3)
        assert run.interruption == "its worker shut down"


def test_has_queued_says_whether_a_claim_would_find_a_run(engine):
    w = queue.register_worker(engine, "h", 1, "cpu")
    assert not queue.has_queued(engine) and queue.claim_next(engine, w) is None
    exp = make(engine, n_arms=2)
    assert queue.has_queued(engine)
    first = queue.claim_next(engine, w)
    assert queue.has_queued(engine)  # the second arm still waits
    queue.claim_next(engine, w)
    assert not queue.has_queued(engine)  # both running: nothing left to claim
    queue.release(engine, first, "back to the queue")
    assert queue.has_queued(engine)
    queue.request_cancel(engine, exp.id)
    assert not queue.has_queued(engine)  # cancel takes queued runs off at once


def test_a_new_database_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path):
    def page_size(engine) -> int:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA page_size").scalar()

    assert page_size(get_engine(f"sqlite:///{tmp_path / 'new.db'}")) == SQLITE_PAGE_SIZE
    # A database made before (SQLite's default 4 KiB pages) is migrated and written as it is.
    raw = sqlite3.connect(tmp_path / "old.db")
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE made_before (x)")
    raw.close()
    old = get_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert page_size(old) == 4096
    exp = make(old)
    assert statuses(old, exp.id) == [RunStatus.queued] * 3
