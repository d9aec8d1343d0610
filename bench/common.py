"""Shared by the benchmark scripts: where the data is, timing, printing."""

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch

from worker.train import flush_denormals

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("REGLAB_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    threads = torch.get_num_threads()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads{gpu}"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def header(title: str) -> None:
    """Every benchmark's first step: the process set up as a worker's (before any torch op
    starts the intra-op threads), then the title and the machine."""
    flush_denormals()
    print(f"== {title}\n   on {machine()}")


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of what the rounds sample (the sign
    test's): the k-th smallest and the k-th largest round, k as large as keeps the coverage. None
    when there are too few rounds for one (fewer than 6 at 95 %). The machine's drift is neither
    normal nor steady, so no mean and standard error."""
    xs, n = sorted(values), len(values)
    k, tail = 0, 0.0
    while k < n and tail + math.comb(n, k) / 2**n <= (1 - confidence) / 2:
        tail += math.comb(n, k) / 2**n
        k += 1
    return (xs[k - 1], xs[n - k]) if k else None


def summary(ratios: list[float], digits: int = 3) -> str:
    """The median round, its 95 % interval and the range: '1.050 (95 % CI 0.990-1.100; 10 rounds
    0.980-1.170)'. With 6-8 rounds the interval is the range itself. A target is shown met only
    where the whole interval meets it."""
    if not ratios:
        return "no rounds"
    ci = median_interval(ratios)
    interval = "too few rounds for a CI; "
    if ci:
        interval = f"95 % CI {ci[0]:.{digits}f}-{ci[1]:.{digits}f}; "
    return (
        f"{statistics.median(ratios):.{digits}f} ({interval}{len(ratios)} rounds "
        f"{min(ratios):.{digits}f}-{max(ratios):.{digits}f})"
    )


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A reglab process (`["app.cli", "serve", ...]` or `["worker"]`), its output dropped."""
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_server(env: dict[str, str], port: int) -> tuple[subprocess.Popen, str]:
    """A real server process on `port`, once it answers; and its URL."""
    server = start(["app.cli", "serve", "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/api/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, url
