"""Worker rows: a dead worker of this node is seen at once (its process is gone), others by their
heartbeat; silent rows are pruned. Real processes, a real SQLite file (PostgreSQL where said)."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from store import procs, queue
from store.engine import get_engine, read_session, write_session
from store.models import Run, RunStatus, Supervisor, Worker, utcnow
from tests.factories import QUEUED
from tests.unit.app.test_fleet import CFG as FLEET_CFG
from tests.unit.app.test_fleet import FAR


@pytest.fixture
def sleepers():
    """Real processes to stand for workers; killed at the end."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait()


def as_worker(engine, proc: subprocess.Popen, node: str | None = None) -> str:
    """Register a worker row for this process, as `python -m worker` registers itself."""
    here = procs.node()
    return queue.register_worker(
        engine, "h", proc.pid, "cpu", node or here, procs.start_ticks(proc.pid)
    )


def run_of(engine, run_id: int) -> Run:
    with read_session(engine) as s:
        return s.get(Run, run_id)


def worker_ids(engine) -> set[str]:
    with read_session(engine) as s:
        return set(s.exec(select(Worker.id)).all())


def test_a_dead_worker_of_this_node_loses_its_run_at_once(backend, settings, sleepers):
    if backend:
        settings.database_url = backend
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "x", QUEUED, [("a", {}), ("b", {})])
    survivor, victim = sleepers(), sleepers()
    alive, dead = as_worker(engine, survivor), as_worker(engine, victim)
    kept, lost = queue.claim_next(engine, alive), queue.claim_next(engine, dead)
    assert queue.requeue_dead(engine, max_attempts=3) == []  # both processes run
    victim.kill()
    victim.wait()
    # Nothing else happened: the heartbeat is fresh, the stall timeout far away.
    assert queue.requeue_dead(engine, max_attempts=3) == [lost.run_id]
    run = run_of(engine, lost.run_id)
    assert run.status == RunStatus.queued and run.worker_id is None
    assert run.interruption == "its worker stopped"
    assert f"process {victim.pid} is gone" in run.error
    assert run_of(engine, kept.run_id).status == RunStatus.running
    assert worker_ids(engine) == {alive}  # the dead one's row is gone too
    assert queue.requeue_dead(engine, max_attempts=3) == []


def test_out_of_attempts_a_dead_workers_run_fails(engine, sleepers):
    queue.create_experiment(engine, "x", QUEUED, [("a", {})])
    victim = sleepers()
    claim = queue.claim_next(engine, as_worker(engine, victim))
    victim.kill()
    victim.wait()
    assert queue.requeue_dead(engine, max_attempts=1) == [claim.run_id]
    run = run_of(engine, claim.run_id)
    assert run.status == RunStatus.failed and "Gave up after 1 attempts" in run.error


def test_a_worker_of_another_node_is_left_to_the_stall_timeout(engine, sleepers):
    queue.create_experiment(engine, "x", QUEUED, [("a", {})])
    victim = sleepers()
    far = as_worker(engine, victim, node="another-boot/pid:[1]")
    claim = queue.claim_next(engine, far)
    victim.kill()
    victim.wait()
    # Its pid means nothing here, whatever runs under it on this node.
    assert queue.requeue_dead(engine, max_attempts=3) == []
    assert queue.requeue_stalled(engine, timeout_s=30, max_attempts=3) == []
    with write_session(engine) as s:
        s.exec(update(Run).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert queue.requeue_stalled(engine, timeout_s=30, max_attempts=3) == [claim.run_id]
    assert run_of(engine, claim.run_id).interruption == "its worker went silent"


def test_a_zombie_or_a_reused_pid_is_not_the_worker(sleepers):
    here = procs.node()
    p = sleepers()
    started = procs.start_ticks(p.pid)
    assert not procs.gone(here, p.pid, started)
    # Another process under the worker's pid (the kernel reuses them): a later start time.
    assert procs.gone(here, p.pid, started - 1)
    p.kill()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
    assert procs.gone(here, p.pid, started)
    p.wait()
    assert procs.gone(here, p.pid, started)
    assert not procs.gone(None, p.pid, started)  # no record of where it ran: cannot tell
    assert not procs.gone("another-boot/pid:[1]", p.pid, started)


def test_silent_rows_are_pruned_and_a_worker_that_wakes_up_registers_again(engine, sleepers):
    fresh = as_worker(engine, sleepers())
    silent = queue.register_worker(engine, "far", 4242, "cuda (H100)", "another-boot/pid:[1]", 9)
    supervisor = Supervisor(id="up-1", host="far", pid=1, workers=1, node="another-boot/pid:[1]")
    queue.beat_supervisor(engine, supervisor)
    with write_session(engine) as s:
        old = utcnow() - timedelta(minutes=5)
        s.exec(update(Worker).where(Worker.id == silent).values(heartbeat_at=old))
        s.exec(update(Supervisor).values(heartbeat_at=old))
    queue.requeue_stalled(engine, timeout_s=30, max_attempts=3)
    assert worker_ids(engine) == {fresh}
    with read_session(engine) as s:
        assert s.exec(select(Supervisor)).all() == []
    assert queue.touch_worker(engine, fresh)
    assert not queue.touch_worker(engine, silent)  # pruned: it must register again
    assert queue.register_worker(engine, "far", 4242, "cpu", worker_id=silent) == silent
    assert queue.touch_worker(engine, silent)
    queue.deregister_worker(engine, fresh)
    assert worker_ids(engine) == {silent}


def test_a_proc_of_another_pid_namespace_judges_nothing(tmp_path, monkeypatch):
    """A process whose /proc was mounted for another pid namespace (`unshare --pid` without
    `--mount-proc`, a sandbox) would read its own pids in a table of other processes: a live
    worker's pid there is some other process, and its run would be taken back. /proc/self naming
    another pid than os.getpid() gives that away; nothing is judged then."""
    fake = tmp_path / "proc"
    (fake / "sys/kernel/random").mkdir(parents=True)
    (fake / "sys/kernel/random/boot_id").write_text("boot\n")
    outer = fake / str(os.getpid() + 1)  # our process, as the outer namespace numbers it
    (outer / "ns").mkdir(parents=True)
    (outer / "ns/pid").symlink_to("pid:[4026531836]")
    (fake / "self").symlink_to(outer.name)
    monkeypatch.setattr(procs, "PROC", fake)
    procs.node.cache_clear()
    try:
        assert procs.node() is None
        os.rename(outer, fake / str(os.getpid()))  # /proc that numbers us as we do: judged
        (fake / "self").unlink()
        (fake / "self").symlink_to(str(os.getpid()))
        procs.node.cache_clear()
        assert procs.node() == "boot/pid:[4026531836]"
    finally:
        procs.node.cache_clear()


def test_live_workers_with_what_they_train_and_no_dead_ones(client, engine):
    exp = queue.create_experiment(engine, "sweep", FLEET_CFG, [("a", {}), ("b", {}), ("c", {})])
    me = queue.register_worker(
        engine, "here", os.getpid(), "cpu", procs.node(), procs.start_ticks(os.getpid())
    )
    far = queue.register_worker(engine, "gpu-box", 77, "cuda (NVIDIA H200)", FAR, 5)
    silent = queue.register_worker(engine, "gone-box", 78, "cpu", FAR, 6)
    with write_session(engine) as s:  # silent past the stall timeout (30 s)
        old = utcnow() - timedelta(seconds=45)
        s.exec(update(Worker).where(Worker.id == silent).values(heartbeat_at=old))
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = queue.register_worker(
        engine, "here", victim.pid, "cpu", procs.node(), procs.start_ticks(victim.pid)
    )
    first = queue.claim_next(engine, me)
    more = queue.claim_more(engine, me, first, [first.run_id + 1])
    queue.claim_next(engine, dead)
    victim.kill()
    victim.wait()  # its heartbeat is fresh, but its process is gone

    answer = client.get("/api/workers").json()
    assert answer["warning"] is None and answer["queued"] == 0
    listed = {w["id"]: w for w in answer["workers"]}
    assert set(listed) == {me, far}
    assert [r["id"] for r in listed[me]["runs"]] == [first.run_id, more[0].run_id]
    assert listed[me]["runs"][0] == {
        "id": first.run_id,
        "experiment_id": exp.id,
        "experiment_name": "sweep",
        "name": "a",
        "epochs_done": 0,
        "epochs_total": 5,
    }
    assert listed[far]["runs"] == [] and listed[far]["device"] == "cuda (NVIDIA H200)"
    assert 0 <= listed[far]["heartbeat_age_s"] < 30
    panel = client.get("/fragments/workers").text
    assert f'data-worker="{me}"' in panel and f'data-worker="{far}"' in panel
    assert f'data-worker="{dead}"' not in panel and "idle" in panel
