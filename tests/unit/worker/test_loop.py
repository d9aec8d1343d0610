"""When the worker keeps a resume checkpoint (REGLAB_RESUME_EVERY): after every epoch, every so
many seconds, or ('auto', the default) as often as keeps their measured cost near 0.5 %."""

import threading

import torch

from store import queue
from store.engine import get_engine
from tests.unit.worker.arms import alone
from worker import loop
from worker.config import TrainConfig
from worker.loop import Worker, _Writer
from worker.train import load_data

CONFIG = {"train_per_class": 5, "val_per_class": 5, "epochs": 50, "hidden": 8, "batch_size": 16}


def _writer(settings) -> _Writer:
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "policy", CONFIG, [("a", {})])
    worker = Worker(settings)
    worker.id = queue.register_worker(engine, "host", 1, "cpu")
    claim = queue.claim_next(engine, worker.id)
    assert queue.begin_training(engine, claim, "cpu", {})
    writer = _Writer(worker, [claim], threading.Event())
    writer.start()
    return writer


def simulated_clock(writer: _Writer) -> list[float]:
    """Give the writer a clock that moves only when the test moves it (now[0] += seconds), starting
    at 0 with its last state and last epoch there: the policy is about time, not the machine's."""
    now = [0.0]
    writer.clock = lambda: now[0]
    writer.last_state = writer.last_epoch = 0.0
    return now


def _report_with_state(settings):
    cfg = TrainConfig.from_dict({**CONFIG, "epochs": 1})
    data = load_data(cfg, settings.dataset_root, False, torch.device("cpu"))
    _, reports = alone(cfg, data, keep_resume=True)
    return reports[0]


def test_every_epoch_and_every_n_seconds(settings):
    settings.resume_every = 0.0
    writer = _writer(settings)
    assert [writer.state_due(e) for e in range(1, 5)] == [True] * 4
    assert not writer.state_due(CONFIG["epochs"])  # the last epoch finishes the run instead
    settings.resume_every = 0.3
    now = simulated_clock(writer)
    assert not writer.state_due(5)
    now[0] += 0.35
    assert writer.state_due(6)
    assert not writer.state_due(7)
    writer.close()


def test_auto_spaces_states_by_what_the_last_one_cost(settings, monkeypatch):
    settings.resume_every = "auto"
    writer = _writer(settings)
    now = simulated_clock(writer)
    assert not writer.state_due(1)  # none in the first RESUME_MIN_S of training
    now[0] += loop.RESUME_MIN_S + 0.05
    assert writer.state_due(1)  # then the first one is taken, and measured
    assert not writer.state_due(2)  # not another while that one is still being stored

    report = _report_with_state(settings)
    assert report.resume_s > 0  # the snapshot's CPU time on the training thread
    writer.submit([report])  # a real resume state, really committed
    writer.close()
    cost = writer.state_cost
    assert report.resume_s < cost < 10  # the snapshot and the commit
    assert not writer.state_due(3)  # 300 x its cost has not passed yet

    monkeypatch.setattr(loop, "RESUME_COST_RATIO", 1.0)  # so the test need not wait 300 x cost
    monkeypatch.setattr(loop, "RESUME_MIN_S", 0.0)
    writer.last_state = now[0]
    now[0] += cost * 1.1
    assert writer.state_due(4)


def test_auto_never_lets_a_crash_cost_more_than_resume_max_of_training(settings):
    """However costly a state is to store (a 4096-wide model's, several arms'), 'auto' keeps one
    at least every REGLAB_RESUME_MAX (60 s) of training, or after every epoch where an epoch
    takes longer: a crash costs at most max(one epoch, 60 s). Time is simulated."""
    settings.resume_every = "auto"
    assert settings.resume_max == 60
    writer = _writer(settings)
    writer.epochs = 10**6
    now = [0.0]
    writer.clock = lambda: now[0]

    def states(epoch_s: float, cost: float, epochs: int) -> list[float]:
        """When states are kept, from a start (itself as good as one) over `epochs` epochs."""
        writer.last_state = writer.last_epoch = now[0] = 0.0
        writer.state_cost = 0.0
        kept = [0.0]
        for epoch in range(1, epochs + 1):
            now[0] += epoch_s
            if writer.state_due(epoch):
                kept.append(now[0])
                writer.state_cost = cost  # stored; this is what it took
        return kept

    def gaps(kept: list[float]) -> list[float]:  # the most a crash in each interval costs
        return [b - a for a, b in zip(kept, kept[1:], strict=False)]

    # 2 s of CPU a state: by cost alone, 300 x 2 s = 10 minutes apart.
    kept = states(epoch_s=7.0, cost=2.0, epochs=100)
    assert max(gaps(kept)) <= 60
    first, *then = gaps(kept)
    assert first == 14.0  # the first after RESUME_MIN_S (10 s): it measures what one costs
    assert min(then) > 60 - 7  # then no more often than the bound needs: still cheap
    # Epochs longer than the bound: one after each, the cheapest that keeps the loss to one epoch.
    assert gaps(states(epoch_s=90.0, cost=2.0, epochs=5)) == [90.0] * 5
    # Cheap states are spaced by their cost as before; the bound does not bind.
    assert set(gaps(states(epoch_s=1.0, cost=0.1, epochs=100))[1:]) == {30.0}
    # A smaller bound for those who want one.
    settings.resume_max = 20.0
    assert max(gaps(states(epoch_s=3.0, cost=2.0, epochs=50))) <= 20
    writer.close()
