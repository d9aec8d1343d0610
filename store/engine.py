"""Engine construction, migrations and sessions.

One writer at a time, on every backend: that keeps the change feed's ids in commit order (a page
resuming from an id misses nothing) and makes a claim a plain read-then-write.
- SQLite: WAL lets readers run while a worker commits; busy_timeout makes a writer wait for the lock
  instead of failing with "database is locked"; writes begin with BEGIN IMMEDIATE, since a deferred
  transaction that reads and then writes can fail at once on the lock upgrade.
- PostgreSQL: write transactions take one transaction-level advisory lock first.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16_384
IDLE_IN_TRANSACTION_MS = 10_000
WRITE_LOCK_KEY = 0x7265676C  # "regl": the advisory lock every PostgreSQL write transaction takes
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Hand transaction control to the "begin" hook below (pysqlite's own implicit BEGIN
        # cannot be made IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Takes effect only while the file is still empty (before WAL): a new database gets 16 KiB
        # pages. A resume state is megabytes per arm, and larger pages make storing and dropping
        # one cheaper for the writer (fewer pages to allocate and free); the epoch's small
        # transaction costs the same either way.
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoint, safe in WAL mode
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgres_hooks(engine: Engine) -> None:
    # The rows of one INSERT go as one multi-row statement, not as the driver's executemany:
    # psycopg pipelines that, and a process frozen after a pipeline's statements but before its
    # Sync leaves a session the server counts neither idle in a transaction nor running a
    # statement, so no timeout ends it and it holds the write lock for ever (the likely cause of
    # one CI run where a worker, SIGSTOPped mid-epoch, kept the next one from starting). Between
    # statements that each end in a Sync, idle_in_transaction_session_timeout ends it.
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # A process frozen inside a transaction (SIGSTOP, a paused VM) would hold the write lock
        # for ever; the server ends such a session instead, and the lock is free again.
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")
        dbapi_conn.commit()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("write", False):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def writer(engine: Engine) -> Engine:
    """The engine whose transactions take the write lock first (the `begin` hooks above)."""
    return engine.execution_options(write=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic), under the write lock: when a server and
    workers start together, one migrates and the others find it done."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _json_loads(text: str | bytes):
    """JSON columns read with orjson, the faster parser (a large experiment's curves are
    hundreds of thousands of stored floats); the standard library's reader for what only it
    accepts, such as the NaN that json.dumps writes."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@cache
def get_engine(url: str) -> Engine:
    """One engine (and pool) per URL per process, its schema up to date."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_deserializer=_json_loads,
        )
        _sqlite_hooks(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, json_deserializer=_json_loads)
        if parsed.get_backend_name() == "postgresql":
            _postgres_hooks(engine)
    migrate(engine)
    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A transaction that holds the write lock from its start and commits on exit."""
    with (
        Session(writer(engine), expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session
