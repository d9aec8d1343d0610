"""(5) From a worker's commit of an epoch to its event arriving at an SSE client: a real server
process, a real worker process, a real HTTP client. Run: python bench/sse_latency.py
"""

import os
import statistics
import tempfile
from pathlib import Path

import httpx
from sqlmodel import select

from bench.common import DATA, header, start, start_server
from store.engine import get_engine, read_session
from store.models import Change
from tests.sse import read_events

EXPERIMENT = {
    "train_per_class": 20,
    "val_per_class": 10,
    "epochs": 60,
    "hidden": 64,
    "runs": [{"name": "a"}, {"name": "b", "l1": 1e-4}, {"name": "c", "dropout": 0.2}],
}


def main() -> None:
    header("commit -> SSE event latency")
    home = Path(tempfile.mkdtemp(prefix="reglab-sse-"))
    env = {
        **os.environ,
        "REGLAB_HOME": str(home),
        "REGLAB_DATA_DIR": str(DATA),
        "REGLAB_DOWNLOAD": "false",
    }
    server, url = start_server(env, 8765)
    worker = None
    try:
        exp = httpx.post(url + "/api/experiments", json=EXPERIMENT).json()
        total = EXPERIMENT["epochs"] * len(EXPERIMENT["runs"])
        arrivals = {}
        with httpx.stream("GET", f"{url}/api/experiments/{exp['id']}/events", timeout=120) as r:
            worker = start(["worker"], env)
            for ev in read_events(r):
                if ev.event == "epoch":
                    arrivals[int(ev.id)] = ev.received
                if len(arrivals) == total:
                    break
        engine = get_engine(f"sqlite:///{home / 'reglab.db'}")
        with read_session(engine) as s:
            made = {c.id: c.created_at.timestamp() for c in s.exec(select(Change))}
        # created_at is set just before the commit, so these slightly overstate the latency.
        ms = sorted((arrivals[i] - made[i]) * 1000 for i in arrivals)
        p95 = ms[int(0.95 * (len(ms) - 1))]
        print(
            f"   {len(ms)} epochs: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
            f"max {ms[-1]:.0f} ms (target: p95 <= 250 ms)"
        )
    finally:
        for p in (worker, server):
            if p is not None:
                p.terminate()
                p.wait(timeout=20)


if __name__ == "__main__":
    main()
