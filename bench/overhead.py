"""(4) What the measurements cost per epoch: the worker's full path (weight statistics,
histograms, resume states as REGLAB_RESUME_EVERY keeps them, one database transaction per epoch on
a real SQLite file, the heartbeat and cancel checks) against the bare loop, same arms.

The two ways run in turns (bench/turns.py), each in its own process: one epoch of the bare loop,
one epoch of a real worker, and so on in alternating order, so that the epochs compared are a
second apart and the VM's switches of speed (2x, for tens of seconds) spoil a pair, not a round.
The worker's writer commits an epoch while the next one trains, as in a real run, but only while
its process holds the turn: it takes up epoch e's commit when the turn for epoch e + 1 begins, and
that turn does not end before the commit has (so no commit runs beside the other way's epoch).
What this understates: the watcher thread's heartbeat and cancel checks also run while the other
way has the turn (0.1 % of an epoch's CPU, see the parts below), and each run's last commit falls
in the next run's first epoch, which is left out (a seventh of the commits, 0.03 % of an epoch).

Per round, each way trains RUNS experiments of EPOCHS epochs one after another, each with fresh
tensors (the worker claims the queued experiments in turn); each run's first epoch (claim, set-up,
warm-up) is left out. Several short runs a round, not one long one: the speed of a run varies from
run to run more than from epoch to epoch, and averaging several runs a round narrows the rounds'
spread where one long run would not (docs/PERFORMANCE.md, Method). Resume states are spaced as in
one long run within a round: each run's writer takes up the spacing where the last one left it, on
the worker's own clock (it stops while it waits for a turn). Each round's worker is a new process,
so each round keeps the costliest state, a process's first (fresh memory: page faults across the
snapshot and SQLite's copy of the blob, and the epoch beside its commit trains longer), where a
worker that lives for many runs pays most of that once. RUNS is chosen so that a round keeps at
least two states, the first and a cheaper one; the first state still weighs more here than in a
worker that has run for a while, so the figure errs high. The round's figure is the ratio of the
two ways' total epoch time, so an epoch that keeps a resume state cannot hide; the median round is
printed with its 95 % confidence interval, and the median of all the rounds' epoch pairs beside it.
Then each part of the measuring path alone, as CPU time per epoch: what it takes from training,
whatever the drift does.
With --control both ways are the bare loop (an A/A run): what the method reads where there is
nothing to find, the noise floor against which the on/off ratio is read on the day's machine.
Run: python -m bench.overhead [rounds] [--resume-every-epoch] [--control]
"""

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import DATA, header, summary
from bench.turns import Turn, in_turns
from store import queue
from store.engine import get_engine
from store.settings import Settings
from worker.config import TrainConfig
from worker.data import as_float
from worker.lockstep import StackedEngine
from worker.loop import CANCEL_CHECK_S, RESUME_COST_RATIO, Worker, _Writer
from worker.stats import weight_figures
from worker.train import flush_denormals, load_data, pick_device, train

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": None,
    "val_per_class": 300,
    "epochs": 7,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "hidden": 500,
    "seed": 0,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-4}), ("Ridge", {"l2": 1e-3})]
RUNS = 10  # per way and round: enough training for the round to keep two resume states


def arms(epochs: int) -> list[TrainConfig]:
    experiment = {**EXPERIMENT, "epochs": epochs}
    return [TrainConfig.from_dict({**experiment, **arm, "arm": name}) for name, arm in ARMS]


def intervals(stamps: list[float]) -> list[float]:
    """Epoch 2 onwards, from the time each epoch was reported."""
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def bare_run(data, device, epochs: int) -> tuple[list[float], list]:
    """The three arms on the bare loop in one run: epoch times from epoch 2 on, and the arms'
    results (bench/denormals.py)."""
    stamps = []
    results = train(
        arms(epochs),
        *data,
        device,
        measure=False,
        report=lambda reports: stamps.append(time.perf_counter()),
        stacked=True,
    )
    return intervals(stamps), results


def bare_way(turn: Turn, runs: int, epochs: int) -> None:
    """In its own process: the three arms on the bare loop, a turn per epoch, runs times over,
    each run with its data loaded afresh as the worker does."""
    flush_denormals()  # as the worker's entry point does, before torch starts its threads
    device = pick_device()
    turn.begin()
    for _ in range(runs):
        data = load_data(arms(epochs)[0], DATA, False, device)
        train(arms(epochs), *data, device, measure=False, report=lambda r: turn.end(), stacked=True)


def worker_way(turn: Turn, runs: int, epochs: int, resume_every: float | str, home: Path) -> int:
    """In its own process: a real worker on the SQLite file under home, a turn per epoch, the
    runs experiments queued at once. Its writer commits only while the process holds the turn:
    epoch e's commit beside epoch e + 1, as in a real run, within that epoch's turn. Returns how
    many resume states it kept."""
    flush_denormals()
    settings = Settings(home=home, data_dir=DATA, download=False, resume_every=resume_every)
    for _ in range(runs):
        queue.create_experiment(
            get_engine(settings.db_url), "bench", {**EXPERIMENT, "epochs": epochs}, ARMS
        )
    submit, commit, state_due = _Writer.submit, _Writer._commit, _Writer.state_due
    held = threading.Event()  # set while this process holds the turn
    states, spacing = [], {}

    def commit_in_turn(writer: _Writer, reports) -> None:
        held.wait()
        commit(writer, reports)

    def end_turn(writer: _Writer, reports) -> None:
        writer.pending.join()  # the last epoch's commit, taken up in this turn, ends in it
        held.clear()  # this epoch's waits for the next turn
        submit(writer, reports)
        states.append(reports[0].resume is not None)
        waited = turn.waited
        turn.end()
        held.set()
        writer.last_state += turn.waited - waited  # resume spacing: this process's time only

    def due_as_in_one_run(writer: _Writer, epoch: int) -> bool:
        last = spacing.get("writer")
        if last is not None and last is not writer:  # a new run: the spacing goes on
            writer.last_state, writer.state_cost = last.last_state, last.state_cost
        spacing["writer"] = writer
        return state_due(writer, epoch)

    _Writer.submit, _Writer._commit, _Writer.state_due = end_turn, commit_in_turn, due_as_in_one_run
    turn.begin()
    held.set()
    Worker(settings).run_forever(exit_when_idle=True)
    return sum(states)


def cpu_ms(fn, repeat: int = 20) -> float:
    """Median CPU time of fn on this thread, in ms: what it takes from training, whatever the
    machine's drift does to wall time."""
    took = []
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        took.append(time.thread_time() - t)
    return statistics.median(took) * 1000


def parts(data, device, epoch_ms: float) -> None:
    """Each part of the measuring path alone, as CPU time per epoch and as a share of an epoch."""
    home = Path(tempfile.mkdtemp(prefix="reglab-bench-"))
    settings = Settings(home=home, data_dir=DATA, download=False)
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "parts", EXPERIMENT, ARMS)
    worker = queue.register_worker(engine, "bench", 1, "cpu")
    first = queue.claim_next(engine, worker)
    claims = [first, *queue.claim_more(engine, worker, first, [2, 3])]
    cfgs = [TrainConfig.from_dict(c.config) for c in claims]
    reports = []
    train(
        [TrainConfig.from_dict({**c.to_dict(), "epochs": 1}) for c in cfgs],
        *data,
        device,
        report=reports.append,
        keep_resume=True,
        stacked=True,
    )
    ls = StackedEngine(cfgs, data[0], device)
    ls.step(as_float(data[0].x[:32]), data[0].y[:32])  # Adam's moments, as after training
    epoch = iter(range(1, 10**6))

    def commit(with_state: bool) -> None:
        e = next(epoch)
        rows = [
            queue.EpochRow(
                c, e, r.metrics, r.layers, r.histograms, r.resume if with_state else None
            )
            for c, r in zip(claims, reports[0], strict=True)
        ]
        queue.write_epochs(engine, rows)

    def measure() -> None:
        for a in range(len(cfgs)):
            state = ls.arm_state(a)
            weight_figures(state, ls.bases)

    state_ms = cpu_ms(lambda: [ls.arm_resume(a, 1, {}) for a in range(len(cfgs))], 5)
    state_ms += cpu_ms(lambda: commit(True), 5) - cpu_ms(lambda: commit(False), 5)
    with queue.CancelCheck(engine, claims) as cancel_requested:
        rows = {
            "statistics and histograms (training thread)": cpu_ms(measure),
            "the epoch's transaction (writer thread)": cpu_ms(lambda: commit(False)),
            "cancel checks (watcher thread)": cpu_ms(cancel_requested)
            * epoch_ms
            / (CANCEL_CHECK_S * 1000),
            "heartbeats (watcher thread)": cpu_ms(lambda: queue.heartbeat(engine, claims, worker))
            * epoch_ms
            / (settings.heartbeat_interval * 1000),
        }
    print(f"   CPU time per epoch of each part alone, against a {epoch_ms:.0f} ms epoch:")
    for label, ms in rows.items():
        print(f"     {label:46s} {ms:6.2f} ms  {ms / epoch_ms:6.2%}")
    print(
        f"     a resume state for 3 arms: {state_ms:.0f} ms of CPU alone (more beside training); "
        f"`auto` spaces them by {RESUME_COST_RATIO}x the CPU time the last one took while "
        f"training, {1 / RESUME_COST_RATIO:.2%} of the time"
    )


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 6
    epochs = EXPERIMENT["epochs"]
    resume_every = 0.0 if "--resume-every-epoch" in sys.argv else "auto"
    control = "--control" in sys.argv
    header(
        f"epoch time with statistics, histograms, resume states and database writes, on vs off "
        f"(3 arms, batch 32, {RUNS} runs of {epochs} epochs per way and round, in turns, "
        f"REGLAB_RESUME_EVERY={resume_every}, {rounds} rounds)"
        + (": CONTROL, both ways the bare loop" if control else "")
    )
    # One database for all rounds, each run a new experiment in it, as in a real installation
    # (in a fresh file, a run's first resume state costs more CPU than in one that has held
    # states before: SQLite grows the file instead of reusing freed pages).
    home = Path(tempfile.mkdtemp(prefix="reglab-bench-"))
    off_way = (bare_way, (RUNS, epochs))
    on_way = off_way if control else (worker_way, (RUNS, epochs, resume_every, home))
    ratios, pairs, means = [], [], {"off": [], "on": []}
    for r in range(rounds):
        ways = {"off": off_way, "on": on_way}
        if r % 2:
            ways = dict(reversed(ways.items()))  # which way goes first alternates too
        got = in_turns(ways)
        # Each run's first epoch left out
        off, on = ([t for i, t in enumerate(got[name][0]) if i % epochs] for name in ("off", "on"))
        ratios.append(sum(on) / sum(off))
        pairs += [b / a for a, b in zip(off, on, strict=True)]
        means["off"].append(statistics.mean(off))
        means["on"].append(statistics.mean(on))
        print(
            f"   round {r + 1}: off {means['off'][-1] * 1000:4.0f} ms  on "
            f"{means['on'][-1] * 1000:4.0f} ms  on / off = {ratios[-1]:.3f}  (epoch pairs: median "
            f"{statistics.median(pairs[-len(on) :]):.3f}; {got['on'][1] or 0} resume states)",
            flush=True,
        )
    off, on = (statistics.median(means[name]) for name in ("off", "on"))
    print(
        f"   median epoch: off {off * 1000:.0f} ms, on {on * 1000:.0f} ms; on / off = "
        f"{summary(ratios)}; all {len(pairs)} epoch pairs: median {statistics.median(pairs):.3f}"
    )
    if not control:
        device = pick_device()
        parts(load_data(arms(epochs)[0], DATA, False, device), device, off * 1000)


if __name__ == "__main__":
    main()
