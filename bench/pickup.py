"""From a run's commit to the queue to an idle worker claiming it: a real worker process polling a
new SQLite file (whatever REGLAB_DATABASE_URL says). Each experiment is queued at a random moment
of the worker's polling cycle, and only after the previous one finished, so every sample is an
idle worker's pickup. Latency is the run's started_at (stamped in the claim's transaction) minus
its created_at (stamped in the queueing one), each just before its commit: approximately commit
to claim. Run: python -m bench.pickup [samples]
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from bench.common import DATA, ROOT, header
from store import queue
from store.engine import get_engine, read_session
from store.models import Run, Worker
from store.settings import Settings

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": 5,
    "val_per_class": 5,
    "epochs": 1,
    "hidden": 16,
    "batch_size": 32,
}


def wait_for(check, *args, timeout: float = 120.0, every: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := check(*args)) is not None:
            return found
        time.sleep(every)
    raise TimeoutError("the worker did not get there in time")


def started(engine, experiment_id: int) -> Run | None:
    """The experiment's run once a worker has claimed it."""
    with read_session(engine) as s:
        run = s.exec(select(Run).where(Run.experiment_id == experiment_id)).one()
        return run if run.started_at else None


def finished(engine, experiment_id: int) -> Run | None:
    run = started(engine, experiment_id)
    return run if run and run.status.finished else None


def registered(engine) -> Worker | None:
    with read_session(engine) as s:
        return s.exec(select(Worker)).first()


def main() -> None:
    samples = max(1, int(sys.argv[1])) if len(sys.argv) > 1 else 40
    home = Path(tempfile.mkdtemp(prefix="reglab-pickup-"))
    db_url = f"sqlite:///{home / 'reglab.db'}"  # never the user's own database
    settings = Settings(home=home, database_url=db_url, data_dir=DATA, download=False)
    header(
        f"queued run -> claimed by an idle worker ({samples} runs, polling every "
        f"{settings.poll_interval * 1000:.0f} ms)"
    )
    engine = get_engine(settings.db_url)
    env = {
        **os.environ,
        "REGLAB_HOME": str(home),
        "REGLAB_DATABASE_URL": db_url,
        "REGLAB_DATA_DIR": str(DATA),
        "REGLAB_DOWNLOAD": "false",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(home / "worker.log").open("w"),  # read it if the worker never claims
    )
    rng = random.Random(0)
    ms = []
    try:
        wait_for(registered, engine)
        for i in range(samples):
            time.sleep(rng.uniform(0.2, 0.4))  # a random phase of the polling cycle
            exp = queue.create_experiment(engine, f"pickup {i}", EXPERIMENT, [("a", {})])
            run = wait_for(started, engine, exp.id)
            ms.append((run.started_at - run.created_at).total_seconds() * 1000)
            wait_for(finished, engine, exp.id)
    except TimeoutError:
        print((home / "worker.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    shutil.rmtree(home, ignore_errors=True)
    ms.sort()
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(
        f"   {len(ms)} runs: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
        f"max {ms[-1]:.0f} ms (target: within 100 ms)"
    )


if __name__ == "__main__":
    main()
