"""(6) Does a full house of live streams slow everything else? A real server process, a real
worker training one experiment, and REGLAB_MAX_STREAMS (100) real SSE clients on that experiment,
each reading every event. The p95 latency of GET /api/health and GET / is measured with no streams
open and with the cap open, in alternating rounds, side by side; the ratio is printed.
Target: with the cap open, p95 within 2x of none. Run: python -m bench.streams [--rounds N]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import DATA, ROOT, header, summary
from tests.conftest import free_port

STREAMS = 100
EXPERIMENT = {
    "train_per_class": 100,
    "val_per_class": 20,
    "epochs": 200,
    "hidden": 64,
    "runs": [{"name": "a"}, {"name": "b", "l1": 1e-4}, {"name": "c", "l2": 1e-3}],
}


class Crowd:
    """`n` SSE clients on their own event loop in a thread, reading every event until closed."""

    def __init__(self, url: str, n: int):
        self.url, self.n, self.events = url, n, 0
        self.open = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        if not self.open.wait(60):
            raise RuntimeError("the streams did not open")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=self.n + 5)
        async with httpx.AsyncClient(timeout=None, limits=limits) as client:
            opened = 0

            async def one():
                nonlocal opened
                async with client.stream("GET", self.url) as r:
                    assert r.status_code == 200, r.status_code
                    opened += 1
                    if opened == self.n:
                        self.open.set()
                    async for line in r.aiter_lines():
                        if line.startswith("event: epoch"):
                            self.events += 1

            tasks = [asyncio.create_task(one()) for _ in range(self.n)]
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


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
    args = ap.parse_args()
    header(f"page latency with 0 and {STREAMS} live streams open")
    home = Path(tempfile.mkdtemp(prefix="reglab-streams-"))
    env = {
        **os.environ,
        "REGLAB_HOME": str(home),
        "REGLAB_DATA_DIR": str(DATA),
        "REGLAB_DOWNLOAD": "false",
        "REGLAB_MAX_STREAMS": str(STREAMS),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(300):
            try:
                httpx.get(url + "/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

        def training() -> str:
            """The events URL of an experiment that is training: a new one when the last ended
            (on a fast machine one ends within a round)."""
            exps = httpx.get(url + "/api/experiments?limit=1").json()
            if not exps or exps[0]["status"] not in ("queued", "running"):
                exps = [httpx.post(url + "/api/experiments", json=EXPERIMENT).json()]
            while httpx.get(f"{url}/api/experiments/{exps[0]['id']}").json()["status"] != "running":
                time.sleep(0.1)
            return f"{url}/api/experiments/{exps[0]['id']}/events"

        training()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
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
                        received += crowd.events
                        crowd.close()
            for path in ratios:
                ratios[path].append(figures[(path, True)][-1] / figures[(path, False)][-1])
        print(f"   {received} epoch events delivered to the crowd")
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
