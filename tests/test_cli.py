"""`reglab up`: the dashboard and its workers start together and stop together."""

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, settings_env, wait_for


def worker_pids(parent: int) -> set[int]:
    """Live `python -m worker --parent <parent>` processes (they run in their own sessions)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in cmd and b"--parent" in cmd and str(parent).encode() in cmd:
            pids.add(int(proc.name))
    return pids


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_up_starts_workers_and_never_leaves_them_behind(settings, how):
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--port", str(port), "--workers", "2"],
        env=settings_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(worker_pids(up.pid)) == 2, timeout=60, what="two workers")

        def serving():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_for(serving, timeout=60, what="the dashboard")
        up.send_signal(getattr(signal, how))
        up.wait(timeout=30)
        # Ctrl-C and SIGTERM stop the workers in order; a killed `up` leaves orphans that notice.
        wait_for(lambda: not worker_pids(up.pid), timeout=20, what="the workers to stop")
    finally:
        if up.poll() is None:
            up.kill()
