"""(6) Does a full house of live streams slow everything else? A real server process, a real
worker training one experiment, and REGLAB_MAX_STREAMS (100) real SSE clients on that experiment,
each reading every event. The p95 latency of GET /api/health and GET / is measured with no streams
open and with the cap open, in alternating rounds, side by side; the ratio is printed.
Target: with the cap open, as fast as with none. Run: python -m bench.streams [--rounds N] [--fast]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import DATA, ROOT, header, start, start_server, summary
from tests.conftest import free_port

STREAMS = 100
# --fast: a model so small that epochs commit by the hundred a second, as toy models do on a GPU:
# the feed's fan-out at its busiest.
FAST = {"train_per_class": 10, "val_per_class": 10, "hidden": 8}
EXPERIMENT = {
    "train_per_class": 500,
    "val_per_class": 20,
    "epochs": 200,
    "hidden": 256,
    "runs": [{"name": "a"}, {"name": "b", "l1": 1e-4}, {"name": "c", "l2": 1e-3}],
}


class Crowd:
    """`n` SSE clients in a process of their own (so their reading does not take the measuring
    client's interpreter), each reading every event until closed."""

    def __init__(self, url: str, n: int):
        self.events = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.streams", "--crowd", url, "--streams", str(n)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.proc.stdout.readline().strip() != "open":
            raise RuntimeError("the streams did not open")

    def close(self) -> None:
        self.proc.stdin.close()
        self.events = int(self.proc.stdout.readline() or 0)
        self.proc.wait(timeout=30)


async def run_crowd(url: str, n: int) -> None:
    """The crowd's process: open n streams, say "open", read until stdin closes, print the
    count of epoch events received."""
    events = opened = 0
    ready = asyncio.Event()
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(timeout=None, limits=limits) as client:

        async def one():
            nonlocal events, opened
            async with client.stream("GET", url) as r:
                assert r.status_code == 200, r.status_code
                opened += 1
                if opened == n:
                    ready.set()
                async for line in r.aiter_lines():
                    if line.startswith("event: epoch"):
                        events += 1

        tasks = [asyncio.create_task(one()) for _ in range(n)]
        await asyncio.wait_for(ready.wait(), 60)
        print("open", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(events, flush=True)


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))]


def sample(url: str, path: str, n: int) -> list[float]:
    out = []
    with httpx.Client(timeout=60) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            assert c.get(url + path).status_code == 200
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=60, help="per path, per round")
    ap.add_argument("--crowd", help=argparse.SUPPRESS)
    ap.add_argument("--streams", type=int, default=STREAMS)
    ap.add_argument("--fast", action="store_true", help="a tiny model: hundreds of epochs a second")
    args = ap.parse_args()
    if args.crowd:
        return asyncio.run(run_crowd(args.crowd, args.streams))
    experiment = {**EXPERIMENT, **FAST} if args.fast else EXPERIMENT
    tiny = ", a tiny model" if args.fast else ""
    header(f"page latency with 0 and {STREAMS} live streams open{tiny}")
    home = Path(tempfile.mkdtemp(prefix="reglab-streams-"))
    env = {
        **os.environ,
        "REGLAB_HOME": str(home),
        "REGLAB_DATA_DIR": str(DATA),
        "REGLAB_DOWNLOAD": "false",
        "REGLAB_MAX_STREAMS": str(STREAMS),
    }
    server, url = start_server(env, free_port())
    procs = [server]
    try:

        def training() -> str:
            """The events URL of an experiment that is training: a new one when the last ended
            (on a fast machine one ends within a round)."""
            exps = httpx.get(url + "/api/experiments?limit=1").json()
            if not exps or exps[0]["status"] not in ("queued", "running"):
                exps = [httpx.post(url + "/api/experiments", json=experiment).json()]
            while httpx.get(f"{url}/api/experiments/{exps[0]['id']}").json()["status"] != "running":
                time.sleep(0.1)
            # As a page does: replay nothing it has, then live epochs.
            cursor = httpx.get(f"{url}/api/experiments/{exps[0]['id']}/curves").json()["cursor"]
            return f"{url}/api/experiments/{exps[0]['id']}/events?after={cursor}"

        procs.append(start(["worker"], env))
        training()
        ratios: dict[str, list[float]] = {"/api/health": [], "/": []}
        figures: dict[tuple[str, bool], list[float]] = {}
        received = 0
        for _ in range(args.rounds):
            for crowded in (False, True):
                events = training()
                crowd = Crowd(events, STREAMS) if crowded else None
                try:
                    for path in ratios:
                        figures.setdefault((path, crowded), []).append(
                            p95(sample(url, path, args.requests))
                        )
                finally:
                    if crowd is not None:
                        crowd.close()
                        received += crowd.events
            for path in ratios:
                ratios[path].append(figures[(path, True)][-1] / figures[(path, False)][-1])
        print(f"   {received} live epoch events delivered to the crowd")
        for path, rs in ratios.items():
            none = statistics.median(figures[(path, False)])
            full = statistics.median(figures[(path, True)])
            print(
                f"   GET {path}: p95 {none:.1f} ms with none, {full:.1f} ms with {STREAMS}; "
                f"ratio {summary(rs, 2)}"
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
