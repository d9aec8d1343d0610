"""Shared fixtures: real SQLite files under tmp_path, real MNIST files, real processes."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from store.engine import get_engine
from store.settings import Settings
from tests.fake_mnist import write_fake_mnist

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("REGLAB_TEST_DATA", ROOT.parent / "shared" / "data")).resolve()
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
HAVE_REAL_MNIST = all((SHARED_DATA / "MNIST" / "raw" / f).is_file() for f in MNIST_FILES)
needs_real_mnist = pytest.mark.skipif(
    not HAVE_REAL_MNIST,
    reason=f"the real MNIST files are not in {SHARED_DATA}/MNIST/raw (CI has them)",
)


@pytest.fixture(scope="session")
def fake_mnist_root(tmp_path_factory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("fake-mnist"))


@pytest.fixture(scope="session")
def mnist_root(fake_mnist_root) -> Path:
    """The real MNIST subset from ../shared/data when present, else generated files."""
    return SHARED_DATA if HAVE_REAL_MNIST else fake_mnist_root


PG_ADMIN_URL = os.environ.get("REGLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_unavailable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(PG_ADMIN_URL).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as e:  # any failure to connect means: not here
        return f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {type(e).__name__}"


@pytest.fixture(scope="session")
def pg_admin():
    reason = _pg_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI has one at 127.0.0.1:5432)")
        pytest.skip(reason)
    import sqlalchemy

    return sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url(pg_admin) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    import uuid

    name = f"reglab_test_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    get_engine.cache_clear()  # drop pooled connections so the database can go
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str | None:
    """Run a test on the embedded SQLite file and on a real PostgreSQL."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


@pytest.fixture
def settings(tmp_path, mnist_root) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_dir=mnist_root,
        download=False,
        heartbeat_interval=0.5,
        feed_interval=0.05,
        poll_interval=0.05,
        allowed_hosts=["testserver"],  # the in-process client's Host
    )


@pytest.fixture
def engine(settings):
    return get_engine(settings.db_url)


@pytest.fixture
def client(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        env[f"REGLAB_{name.upper()}"] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Real server and worker processes, stopped (and their logs shown on failure) at teardown."""

    def __init__(self, settings: Settings, logdir: Path):
        self.settings, self.logdir = settings, logdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.logdir / f"{name}-{len(self.procs)}.log", "wb") as log:
            p = subprocess.Popen(
                argv,
                env=settings_env(self.settings),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((name, p))
        return p

    def server(self, port: int | None = None) -> str:
        port = port or free_port()
        self._start("server", [sys.executable, "-m", "app.cli", "serve", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/api/experiments", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start:\n" + self.logs())

    def worker(self, *args: str) -> subprocess.Popen:
        return self._start("worker", [sys.executable, "-m", "worker", *args])

    def logs(self) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-4000:]}"
            for f in sorted(self.logdir.glob("*.log"))
        )

    def stop(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                p.terminate()
        for _, p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def processes(settings, tmp_path, request) -> Iterator[Processes]:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    procs = Processes(settings, logdir)
    yield procs
    procs.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(procs.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep


def wait_for(predicate, timeout: float = 60, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
