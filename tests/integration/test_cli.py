"""`reglab up`: the dashboard and its workers start together and stop together."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app import supervise
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


class Up:
    """`reglab up` as a user runs it, its output in a file."""

    def __init__(self, settings, tmp_path, n_workers: int = 1):
        self.port, self.log = free_port(), tmp_path / "up.log"
        self.url = f"http://127.0.0.1:{self.port}"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "up", "--port", str(self.port)]
                + ["--workers", str(n_workers)],
                env=settings_env(settings),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str):
        return httpx.get(self.url + path, timeout=10).json()

    def serving(self) -> bool:
        try:
            return httpx.get(self.url + "/api/health", timeout=1).is_success
        except httpx.TransportError:
            return False

    def interrupt(self) -> str:
        """Ctrl-C; what it printed."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        return self.output()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def up(settings, tmp_path):
    started: list[Up] = []

    def start(n_workers: int = 1) -> Up:
        started.append(Up(settings, tmp_path, n_workers))
        return started[-1]

    yield start
    for u in started:
        u.close()


def test_a_killed_worker_of_up_comes_back_and_its_run_resumes(settings, up):
    """kill -9 of the worker mid-run, and nothing else: the run trains again before the stall
    timeout (30 s) could have taken it back, so `reglab up` brought it back; then it finishes
    with every epoch stored exactly once. The deadline is the behaviour: it is the stall timeout
    itself, so a loaded machine does not fail it."""
    settings.resume_every = 0.0  # a resume state after every epoch: it resumes where it stopped
    u = up()
    wait_for(u.serving, timeout=60, what="the dashboard")
    body = {
        "train_per_class": 50,
        "val_per_class": 20,
        "hidden": 256,
        "batch_size": 16,
        "epochs": 40,
        "runs": [{"name": "a"}],
    }
    exp = httpx.post(u.url + "/api/experiments", json=body).json()
    run_id = exp["runs"][0]["id"]
    wait_for(lambda: u.get(f"/api/runs/{run_id}")["epochs_done"] >= 3, timeout=120)
    (worker,) = worker_pids(u.proc.pid)
    listed = u.get("/api/workers")["workers"]
    assert [(w["pid"], [r["id"] for r in w["runs"]]) for w in listed] == [(worker, [run_id])]
    os.kill(worker, signal.SIGKILL)
    killed = time.monotonic()

    def resumed():  # the second attempt has committed an epoch of its own
        run = u.get(f"/api/runs/{run_id}")
        return (
            run["attempts"] == 2
            and run["resumed_after"] is not None
            and (run["epochs_done"] > run["resumed_after"])
        )

    wait_for(resumed, timeout=60, interval=0.1, what="the run to resume")
    took = time.monotonic() - killed
    assert took < settings.stall_timeout, f"resumed {took:.1f} s after the kill"
    (restarted,) = worker_pids(u.proc.pid)
    assert restarted != worker
    run = u.get(f"/api/runs/{run_id}")
    assert run["interruption"] == "its worker stopped"
    assert run["retrain_through"] - run["resumed_after"] <= 1  # a state after every epoch
    assert [w["pid"] for w in u.get("/api/workers")["workers"]] == [restarted]  # not the dead one
    wait_for(lambda: u.get(f"/api/runs/{run_id}")["status"] == "succeeded", timeout=120)
    epochs = [m["epoch"] for m in u.get(f"/api/runs/{run_id}/metrics")["epochs"]]
    assert epochs == list(range(1, 41))  # every epoch exactly once
    said = u.interrupt()
    assert f"worker 1 (pid {worker}) was killed by SIGKILL" in said
    assert "reglab: 1 worker stopped; 1 restart after a crash" in said
    wait_for(lambda: not worker_pids(u.proc.pid), timeout=20, what="the workers to stop")


def test_up_gives_up_on_a_worker_that_keeps_crashing_at_start(settings, up):
    """A setting only the worker reads, and wrong: `python -m worker` exits with an error each
    time it starts. `reglab up` retries with growing delays, then gives up, says why in its log
    and on the page, and stops trying."""
    settings.device = "no-such-device"
    u = up()
    wait_for(u.serving, timeout=60, what="the dashboard")
    wait_for(lambda: "gave up on worker 1" in u.output(), timeout=150, what="up to give up")
    said = u.output()
    assert said.count("reglab: worker 1 (pid") == supervise.GIVE_UP_AFTER  # each exit, once
    assert "Invalid device string: 'no-such-device'" in said  # the worker's own words
    assert not worker_pids(u.proc.pid)  # and no more attempts
    (supervisor,) = u.get("/api/workers")["supervisors"]
    assert "crashed 5 times in a row" in supervisor["gave_up"]
    assert "Invalid device string" in supervisor["gave_up"]
    assert supervisor["restarts"] == supervise.GIVE_UP_AFTER - 1
    page = httpx.get(u.url + "/fragments/workers").text
    assert "reglab up gave up on worker 1" in page
    said = u.interrupt()
    assert said.strip().endswith(
        "reglab: no worker was running; 4 restarts after crashes; "
        "gave up on 1 worker that kept crashing"
    )
