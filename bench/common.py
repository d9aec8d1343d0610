"""Shared by the benchmark scripts: where the data is, timing, printing."""

import os
import time
from pathlib import Path

import torch

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
    print(f"== {title}\n   on {machine()}")
