"""From a cancel request to the arm's status reading `cancelled`, beside one epoch of that arm: a
real server process, a real worker process, a real HTTP client. The worker checks for a cancel
between batches, so the ratio (cancel / epoch) stays well below 1; a ratio near 1 or above means
the check moved to the end of the epoch. Run: python -m bench.cancel [samples]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import DATA, header, start, start_server, summary

EXPERIMENT = {
    "train_per_class": 50,
    "val_per_class": 20,
    "hidden": 256,
    "batch_size": 16,
    "epochs": 50,
    "runs": [{"name": "a"}],
}


def _run(url: str, run_id: int) -> dict:
    return httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()


def _until(predicate, timeout: float = 120.0, interval: float = 0.005) -> float:
    """Poll until predicate() holds; the time it did."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the run did not get there")
        time.sleep(interval)
    return time.perf_counter()


def sample(url: str) -> tuple[float, float]:
    """One arm: (seconds from its 2nd to its 3rd epoch, seconds from cancel to cancelled)."""
    exp = httpx.post(url + "/api/experiments", json=EXPERIMENT, timeout=10).json()
    run_id = exp["runs"][0]["id"]
    second = _until(lambda: _run(url, run_id)["epochs_done"] >= 2)
    third = _until(lambda: _run(url, run_id)["epochs_done"] >= 3)
    asked = time.perf_counter()
    httpx.post(f"{url}/api/experiments/{exp['id']}/cancel", timeout=10)
    stopped = _until(lambda: _run(url, run_id)["status"] == "cancelled")
    return third - second, stopped - asked


def main(samples: int = 8) -> None:
    header("cancel -> cancelled, beside one epoch")
    home = Path(tempfile.mkdtemp(prefix="reglab-cancel-"))
    env = {
        **os.environ,
        "REGLAB_HOME": str(home),
        "REGLAB_DATA_DIR": str(DATA),
        "REGLAB_DOWNLOAD": "false",
    }
    server, url = start_server(env, 8766)
    worker = start(["worker"], env)
    try:
        pairs = [sample(url) for _ in range(samples)]
        epochs, cancels = zip(*pairs, strict=True)
        print(f"   one epoch: median {statistics.median(epochs) * 1000:.0f} ms")
        print(f"   cancel:    median {statistics.median(cancels) * 1000:.0f} ms")
        print(f"   cancel / epoch: {summary([c / e for e, c in pairs])}")
    finally:
        for p in (worker, server):
            p.terminate()
            p.wait(timeout=20)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
