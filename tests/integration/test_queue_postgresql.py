"""The queue on both backends (the SQLite file, then a real PostgreSQL) and what only PostgreSQL
has: multi-row inserts without a pipeline, the lock timeout of a writer frozen mid-transaction."""

import sqlite3
import time

import psycopg
import pytest
from sqlmodel import select

from store import engine as engine_module
from store import queue
from store.engine import (
    WRITE_LOCK_KEY,
    get_engine,
    read_session,
    writer,
)
from store.models import EpochMetric, Histogram
from tests.unit.store.test_queue import claimed_pair, epoch_rows, make


def test_fresh_heartbeat_keeps_the_claim(both):
    engine = both
    make(engine, 1)
    w = queue.register_worker(engine, "h", 1, "cpu")
    c = queue.claim_next(engine, w)
    time.sleep(0.05)
    assert queue.heartbeat(engine, [c], w)
    assert queue.requeue_stalled(engine, timeout_s=30, max_attempts=3) == []
    # ...and the beat is a time the sweep reads as such: once it is older than the timeout, the
    # run goes back to the queue.
    time.sleep(0.3)
    assert queue.requeue_stalled(engine, timeout_s=0.2, max_attempts=3) == [c.run_id]


@pytest.fixture
def both(backend, settings):
    """An engine on the SQLite file, then on a real PostgreSQL."""
    if backend:
        settings.database_url = backend
    return get_engine(settings.db_url)


def _in_transaction(conn) -> bool:
    dbapi = conn.dbapi_connection
    if isinstance(dbapi, sqlite3.Connection):
        return dbapi.in_transaction
    return dbapi.info.transaction_status != dbapi.info.transaction_status.IDLE


@pytest.fixture
def running(both):
    """(engine, experiment, claim): an experiment of two arms on `both`, its first arm claimed."""
    exp = make(both, 2)
    return both, exp, queue.claim_next(both, queue.register_worker(both, "h", 1, "cpu"))


def test_a_held_cancel_check_sees_each_new_request_and_holds_no_transaction(running):
    engine, exp, c = running
    with queue.CancelCheck(engine, [c]) as check:
        assert not check()
        # between checks no transaction stays open (PostgreSQL ends a session idle in one)
        assert not _in_transaction(check.conn)
        queue.request_cancel(engine, exp.id)
        assert check()  # the same connection, a fresh read


def test_a_cancel_check_gets_a_new_connection_after_a_broken_one(running):
    engine, exp, c = running
    with queue.CancelCheck(engine, [c]) as check:
        assert not check()
        check.conn.dbapi_connection.close()  # the database went away under it
        with pytest.raises((sqlite3.Error, psycopg.Error)):  # said, as each DBAPI says it
            check()
        queue.request_cancel(engine, exp.id)
        assert check()


def test_an_epochs_rows_reach_postgresql_without_a_pipeline(pg_url, monkeypatch):
    # psycopg pipelines executemany; a worker frozen inside a pipeline would hold the write lock
    # for ever (the next test shows why), so each INSERT goes as one multi-row statement.
    engine = get_engine(pg_url)
    a, b = claimed_pair(engine)
    pipelined, executemany = [], psycopg.Cursor.executemany

    def spy(cursor, query, params_seq, **kw):
        pipelined.append(query)
        return executemany(cursor, query, params_seq, **kw)

    monkeypatch.setattr(psycopg.Cursor, "executemany", spy)
    hists = {"fc1.weight": (0, [1] * 8), "fc2.weight": (1, [2] * 8)}
    rows = [queue.EpochRow(r.claim, 1, r.metrics, {}, hists) for r in epoch_rows((a, 1), (b, 1))]
    assert queue.write_epochs(engine, rows)
    assert pipelined == []
    with read_session(engine) as s:
        assert len(s.exec(select(EpochMetric)).all()) == 2
        assert len(s.exec(select(Histogram)).all()) == 4


def test_postgresql_frees_the_write_lock_of_a_writer_frozen_between_statements(pg_url, monkeypatch):
    monkeypatch.setattr(engine_module, "IDLE_IN_TRANSACTION_MS", 300)  # read on connect
    engine = get_engine(pg_url)
    # Frozen after a statement: the session is idle in a transaction, and the server ends it.
    with writer(engine).connect() as frozen:
        frozen.begin()  # takes the write lock
        frozen.exec_driver_sql("SELECT 1")
        assert not _write_lock_is_free(engine)
        time.sleep(1.0)
        assert _write_lock_is_free(engine)
        frozen.invalidate()  # its session is gone
    # Frozen inside a pipeline (a statement sent, its Sync not yet): no timeout applies.
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        pg.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        pg.pgconn.enter_pipeline_mode()
        pg.pgconn.send_query_params(b"SELECT 1", None)
        pg.pgconn.flush()
        time.sleep(1.0)
        assert not _write_lock_is_free(engine)
    finally:
        raw.invalidate()


def _write_lock_is_free(engine) -> bool:
    with engine.connect() as conn:  # a transaction-level lock: the rollback on exit frees it
        return conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({WRITE_LOCK_KEY})").scalar()
