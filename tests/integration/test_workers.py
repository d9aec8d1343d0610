"""Many worker processes, crashes, pauses and signals, against SQLite and a real PostgreSQL."""

import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path

import httpx
import torch
from sqlmodel import select

from store import queue
from store.engine import get_engine, read_session
from store.models import Change, EpochMetric, Run, RunState, RunStatus, utcnow
from tests.conftest import wait_for
from tests.factories import TINY

LONG = {
    "dataset": "mnist",
    "train_per_class": 50,
    "val_per_class": 20,
    "hidden": 256,
    "batch_size": 16,
}


def runs(engine, experiment_id=None) -> list[Run]:
    with read_session(engine) as s:
        q = select(Run).order_by(Run.id)
        if experiment_id is not None:
            q = q.where(Run.experiment_id == experiment_id)
        return list(s.exec(q).all())


def epochs_of(engine, run_id) -> list[int]:
    with read_session(engine) as s:
        return [
            m.epoch
            for m in s.exec(
                select(EpochMetric).where(EpochMetric.run_id == run_id).order_by(EpochMetric.epoch)
            )
        ]


def launch(engine, config, arms):
    return queue.create_experiment(engine, "t", config, [(a, {}) for a in arms]).id


def test_four_workers_claim_forty_runs_exactly_once(backend, settings, processes):
    if backend:
        settings.database_url = backend
    engine = get_engine(settings.db_url)
    launch(engine, TINY, [f"arm{i}" for i in range(40)])
    workers = [processes.worker("--exit-when-idle") for _ in range(4)]
    for w in workers:
        assert w.wait(timeout=240) == 0
    done = runs(engine)
    assert [r.status for r in done] == [RunStatus.succeeded] * 40
    assert [r.attempts for r in done] == [1] * 40  # claimed exactly once each
    assert len({r.worker_id for r in done}) > 1  # the work was shared
    with read_session(engine) as s:  # each run started exactly once
        starts = s.exec(select(Change.run_id).where(Change.kind == "status")).all()
    assert all(epochs_of(engine, r.id) == [1] for r in done)
    assert len(starts) >= 40
    assert "database is locked" not in processes.logs()


def _kill_when(engine, run_id, epochs_done, proc, sig=signal.SIGKILL):
    wait_for(
        lambda: next(r for r in runs(engine) if r.id == run_id).epochs_done >= epochs_done,
        timeout=120,
        what=f"run {run_id} to reach epoch {epochs_done}",
    )
    proc.send_signal(sig)


def test_kill_9_mid_epoch_another_worker_resumes(backend, settings, processes):
    if backend:
        settings.database_url = backend
    settings.stall_timeout = 2.0
    settings.resume_every = 0.0  # a resume checkpoint after every epoch
    engine = get_engine(settings.db_url)
    # Epochs enough that the kill lands mid-run: a few small ones can finish before it arrives.
    exp = launch(engine, {**LONG, "epochs": 20}, ["a"])
    (run,) = runs(engine, exp)
    first = processes.worker()
    _kill_when(engine, run.id, 2, first)  # lands in epoch 3 or later, mid-epoch
    first.wait(timeout=10)
    processes.worker()
    wait_for(
        lambda: runs(engine, exp)[0].status == RunStatus.succeeded,
        timeout=180,
        what="the run to finish on the second worker",
    )
    (run,) = runs(engine, exp)
    assert run.attempts == 2
    assert epochs_of(engine, run.id) == list(range(1, 21))  # each epoch exactly once
    assert "resuming after epoch" in processes.logs()


def test_the_server_takes_back_a_killed_workers_run_before_the_stall_timeout(settings, processes):
    """A `reglab worker` of the server's machine killed mid-run, and no other worker or `reglab
    up` to notice: the server's own sweep puts its run back in the queue, long before the stall
    timeout, and the API stops listing the worker. A long stall timeout here: the server's stall
    sweep (every third of it) also takes back dead workers' runs, and must not be what the test
    sees. The deadline is the behaviour; it is a tenth of the stall timeout so that a loaded
    machine does not fail it (bench/pickup.py measures how fast a queued run is picked up)."""
    settings.stall_timeout = 600.0
    url = processes.server()
    engine = get_engine(settings.db_url)
    exp = launch(engine, {**LONG, "epochs": 200}, ["a"])
    (run,) = runs(engine, exp)
    worker = processes.worker()
    _kill_when(engine, run.id, 1, worker)
    killed = time.monotonic()
    worker.wait(timeout=10)
    wait_for(lambda: runs(engine, exp)[0].status == RunStatus.queued, timeout=60, interval=0.05)
    took = time.monotonic() - killed
    assert took < settings.stall_timeout / 10, f"re-queued {took:.1f} s after the kill"
    run = runs(engine, exp)[0]
    assert run.interruption == "its worker stopped" and run.worker_id is None
    listed = httpx.get(f"{url}/api/workers", timeout=10).json()
    assert listed["workers"] == [] and listed["queued"] == 1 and listed["warning"]


def test_kill_9_during_checkpoint_writes_leaves_loadable_files(settings, processes):
    """The final checkpoint of a large model takes a while to write; kill workers around it."""
    settings.stall_timeout, settings.max_attempts = 1.5, 10
    engine = get_engine(settings.db_url)
    exp = launch(engine, {**LONG, "hidden": 4096, "train_per_class": 5, "epochs": 2}, ["big"])
    (run,) = runs(engine, exp)
    final = settings.checkpoints / f"run-{run.id}.pt"
    for attempt, delay in enumerate((0.0, 0.05, 0.1, 0.15, 0.25), start=1):
        w = processes.worker()

        def writing_or_done(attempt=attempt):
            r = runs(engine, exp)[0]
            return r.status == RunStatus.succeeded or (
                r.attempts == attempt and r.status == RunStatus.running and r.epochs_done == 2
            )

        wait_for(writing_or_done, timeout=120, what=f"attempt {attempt} to reach the last epoch")
        time.sleep(delay)
        w.kill()
        w.wait(timeout=10)
        if final.exists():  # whatever the moment of the kill, a file under its name is whole
            assert torch.load(final, weights_only=True)["epoch"] == 2
        if runs(engine, exp)[0].status == RunStatus.succeeded:
            break
    else:
        processes.worker()
        wait_for(lambda: runs(engine, exp)[0].status == RunStatus.succeeded, timeout=120)
    ckpt = torch.load(final, weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["state_dict"]["linear_1.weight"].shape == (4096, 784)
    assert epochs_of(engine, run.id) == [1, 2]


def test_kill_9_costs_a_large_model_at_most_resume_max_of_training(settings, processes):
    """hidden 4096: a resume state is 39 MB (weights and Adam's two moments), costly enough that
    by cost alone 'auto' keeps one only every minute or more. REGLAB_RESUME_MAX bounds what a
    crash costs however costly they are (tests/unit/worker/test_loop.py holds the default,
    60 s); here it is 6 s, so that the test runs well past it, several times, in under a minute."""
    settings.resume_max = 6.0
    engine = get_engine(settings.db_url)
    config = {**LONG, "hidden": 4096, "train_per_class": 10, "val_per_class": 10, "epochs": 1000}
    exp = launch(engine, config, ["big"])
    (run,) = runs(engine, exp)
    worker = processes.worker()
    wait_for(lambda: runs(engine, exp)[0].epochs_done >= 1, timeout=120, what="a first epoch")
    time.sleep(30)  # training; states come and go
    worker.kill()
    killed_at = utcnow()
    worker.wait(timeout=10)
    with read_session(engine) as s:
        state = s.get(RunState, run.id)
        longest = max(s.exec(select(EpochMetric.epoch_time).where(EpochMetric.run_id == run.id)))
        assert state is not None and len(state.data) > 30e6
        kept, kept_at = state.epoch, state.updated_at
    # What the kill cost: the training since the last state was stored (its snapshot, taken at
    # the end of an epoch, is a little older than its commit: the margin).
    lost = (killed_at - kept_at).total_seconds()
    assert lost <= settings.resume_max + longest + 2.0, (lost, longest)
    processes.worker()  # it sees at once that the first one's process is gone

    def resumed():  # and trained an epoch of its own
        run = runs(engine, exp)[0]
        started = run.attempts == 2 and run.resumed_after is not None
        return started and run.epochs_done > run.resumed_after and run

    run = wait_for(resumed, timeout=60, what="the resume")
    assert run.resumed_after == kept and run.interruption == "its worker stopped"
    queue.request_cancel(engine, exp)  # a thousand epochs are not needed to see it resumed
    wait_for(lambda: runs(engine, exp)[0].status == RunStatus.cancelled, timeout=30)
    epochs = epochs_of(engine, run.id)
    assert epochs == list(range(1, len(epochs) + 1))  # none twice, none skipped


def test_paused_worker_cannot_write_after_its_run_was_taken_back(backend, settings, processes):
    if backend:
        settings.database_url = backend
    settings.stall_timeout = 2.0
    engine = get_engine(settings.db_url)
    exp = launch(engine, {**LONG, "epochs": 30}, ["a"])  # long enough for the pause to land mid-run
    (run,) = runs(engine, exp)
    paused = processes.worker()
    _kill_when(engine, run.id, 1, paused, signal.SIGSTOP)
    stopped_at = runs(engine, exp)[0].epochs_done
    taker = processes.worker()  # it sweeps: the paused worker's run goes back to the queue
    if not backend:
        # SQLite has no server to end a frozen writer: if the pause caught the worker inside a
        # write transaction (a few ms in every epoch), every writer waits. Pause it elsewhere.
        for _ in range(5):
            try:
                wait_for(lambda: runs(engine, exp)[0].attempts == 2, timeout=8)
                break
            except AssertionError:
                paused.send_signal(signal.SIGCONT)
                time.sleep(0.05)
                paused.send_signal(signal.SIGSTOP)
    # PostgreSQL ends the frozen session (idle_in_transaction_session_timeout), freeing the lock.
    wait_for(lambda: runs(engine, exp)[0].attempts == 2, timeout=40, what="another claim")
    paused.send_signal(signal.SIGCONT)
    wait_for(
        lambda: runs(engine, exp)[0].status == RunStatus.succeeded,
        timeout=180,
        what="the run to finish on the second worker",
    )
    (run,) = runs(engine, exp)
    assert run.attempts == 2 and run.worker_id.split("-")[-2] == str(taker.pid)
    assert epochs_of(engine, run.id) == list(range(1, 31))
    assert stopped_at >= 1
    assert "the claim was taken back" in processes.logs()


def test_sigterm_requeues_the_run_and_it_completes_later(settings, processes):
    # A resume state after every epoch, and enough epochs that the signal lands mid-run (six
    # epochs of this size could all finish before it arrived).
    settings.resume_every = 0.0
    engine = get_engine(settings.db_url)
    exp = launch(engine, {**LONG, "epochs": 30}, ["a"])
    (run,) = runs(engine, exp)
    w = processes.worker()
    _kill_when(engine, run.id, 2, w, signal.SIGTERM)
    # It stops (exit status 0) instead of finishing its 30 epochs: wait()'s timeout, far below
    # what the rest of the run would take, is the deadline.
    assert w.wait(timeout=30) == 0
    (run,) = runs(engine, exp)
    assert run.status == RunStatus.queued and "another one will resume it" in run.error
    processes.worker()
    wait_for(lambda: runs(engine, exp)[0].status == RunStatus.succeeded, timeout=120)
    assert epochs_of(engine, run.id) == list(range(1, 31))


def test_failure_marks_the_run_failed_and_the_worker_lives_on(settings, processes):
    engine = get_engine(settings.db_url)
    # Within the API's bounds training hardly ever diverges, so this run is queued directly with
    # a lambda the API would refuse: SGD then multiplies the weights by -1999 every step.
    queue.create_experiment(
        engine,
        "bad",
        {**TINY, "optimizer": "sgd", "lr": 1.0, "epochs": 3},
        [("boom", {"l2": 1000.0})],
    )
    good = launch(engine, TINY, ["fine"])
    w = processes.worker()
    wait_for(lambda: runs(engine, good)[0].status == RunStatus.succeeded, timeout=120)
    boom = [r for r in runs(engine) if r.name == "boom"][0]
    assert boom.status == RunStatus.failed and "loss became" in boom.error
    assert w.poll() is None  # the worker is still there


def test_cancel_stops_a_running_arm_mid_run(settings, processes):
    """Cancel stops the arm between batches, not at the end of its run: it ends cancelled with
    epochs still to go. How long that takes is measured by bench/cancel.py."""
    url = processes.server()
    exp = httpx.post(
        f"{url}/api/experiments", json={**LONG, "epochs": 50, "runs": [{"name": "a"}]}
    ).json()
    processes.worker()
    engine = get_engine(settings.db_url)
    wait_for(lambda: runs(engine, exp["id"])[0].epochs_done >= 1, timeout=60)
    httpx.post(f"{url}/api/experiments/{exp['id']}/cancel")
    wait_for(
        lambda: runs(engine, exp["id"])[0].status == RunStatus.cancelled, timeout=60, interval=0.02
    )
    assert runs(engine, exp["id"])[0].epochs_done < 50


def test_a_worker_and_its_training_threads_give_way_to_the_server(settings, processes):
    url = processes.server()
    # Long enough that the run is still training (its threads alive) when they are read.
    httpx.post(f"{url}/api/experiments", json={**LONG, "epochs": 200, "runs": [{"name": "a"}]})
    w = processes.worker()
    engine = get_engine(settings.db_url)
    wait_for(lambda: runs(engine)[0].epochs_done >= 1, timeout=60)  # torch's threads exist now

    def nice(pid: int) -> list[int]:  # each thread's: field 19 of stat, after the name's ")"
        values = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
                values.append(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
        return values

    ours = os.getpriority(os.PRIO_PROCESS, 0)
    threads = nice(w.pid)
    assert len(threads) > 1
    assert set(threads) == {min(ours + settings.worker_nice, 19)}
    assert set(nice(processes.procs[0][1].pid)) == {ours}  # the server


def test_server_restart_during_training_loses_nothing(settings, processes):
    from tests.sse import read_events

    url = processes.server()
    port = url.rsplit(":", 1)[1]
    exp = httpx.post(
        f"{url}/api/experiments", json={**LONG, "epochs": 8, "runs": [{"name": "a"}]}
    ).json()
    processes.worker()
    seen, last_id = [], None
    with httpx.stream("GET", f"{url}/api/experiments/{exp['id']}/events", timeout=60) as resp:
        for ev in read_events(resp):
            if ev.event == "epoch":
                seen.append(json.loads(ev.data)["metric"]["epoch"])
                last_id = ev.id
                if len(seen) == 2:
                    break
    server = next(p for name, p in processes.procs if name == "server")
    server.terminate()
    server.wait(timeout=15)
    time.sleep(1.0)  # the worker goes on training while the server is down
    url = processes.server(port=int(port))
    with httpx.stream(
        "GET",
        f"{url}/api/experiments/{exp['id']}/events",
        timeout=60,
        headers={"Last-Event-ID": last_id},
    ) as resp:
        for ev in read_events(resp):
            if ev.event == "epoch":
                seen.append(json.loads(ev.data)["metric"]["epoch"])
            if len(seen) == 8:
                break
    assert seen == list(range(1, 9))  # every epoch once, in order, across the restart
    run = httpx.get(f"{url}/api/experiments/{exp['id']}").json()["runs"][0]
    wait_for(
        lambda: httpx.get(f"{url}/api/runs/{run['id']}").json()["status"] == "succeeded", timeout=60
    )
    r = httpx.get(f"{url}/api/runs/{run['id']}/checkpoint")
    assert torch.load(io.BytesIO(r.content), weights_only=True)["epoch"] == 8


def test_checkpoints_travel_through_postgresql_without_a_shared_disk(
    pg_url, settings, processes, tmp_path
):
    """Server and worker with separate homes (no shared files): checkpoints go in the database."""
    settings.database_url = pg_url
    url = processes.server()
    exp = httpx.post(f"{url}/api/experiments", json={**TINY, "runs": [{"name": "a"}]}).json()
    settings.home = tmp_path / "worker-machine"
    processes.worker("--exit-when-idle").wait(timeout=120)
    run = httpx.get(f"{url}/api/experiments/{exp['id']}").json()["runs"][0]
    assert run["status"] == "succeeded"
    assert not (tmp_path / "home" / "checkpoints").exists()
    assert not list((tmp_path / "worker-machine").rglob("*.pt"))
    r = httpx.get(url + run["checkpoint_url"])
    assert torch.load(io.BytesIO(r.content), weights_only=True)["epoch"] == 1
