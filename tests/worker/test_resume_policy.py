"""When the worker keeps a resume checkpoint (REGLAB_RESUME_EVERY): after every epoch, every so
many seconds, or ('auto', the default) as often as keeps their measured cost near 0.5 %."""

import threading
import time

import torch

from app.db import feed, queue
from app.db.engine import get_engine
from worker import loop
from worker.config import TrainConfig
from worker.loop import Worker, _Writer
from worker.train import load_data, train

CONFIG = {"train_per_class": 5, "val_per_class": 5, "epochs": 50, "hidden": 8, "batch_size": 16}


def _writer(settings) -> _Writer:
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "policy", CONFIG, [("a", {})])
    worker = Worker(settings)
    worker.id = queue.register_worker(engine, "host", 1, "cpu")
    claim = queue.claim_next(engine, worker.id)
    assert feed.begin_training(engine, claim, "cpu", {})
    writer = _Writer(worker, [claim], threading.Event())
    writer.start()
    return writer


def _report_with_state(settings):
    cfg = TrainConfig.from_dict({**CONFIG, "epochs": 1})
    data = load_data(cfg, settings.dataset_root, False, torch.device("cpu"))
    reports = []
    train(cfg, *data, torch.device("cpu"), report=reports.append, keep_resume=True)
    return reports[0]


def test_every_epoch_and_every_n_seconds(settings):
    settings.resume_every = 0.0
    writer = _writer(settings)
    assert [writer.state_due(e) for e in range(1, 5)] == [True] * 4
    assert not writer.state_due(CONFIG["epochs"])  # the last epoch finishes the run instead
    settings.resume_every = 0.3
    writer.last_state = time.monotonic()
    assert not writer.state_due(5)
    time.sleep(0.35)
    assert writer.state_due(6)
    assert not writer.state_due(7)
    writer.close()


def test_auto_spaces_states_by_what_the_last_one_cost(settings, monkeypatch):
    settings.resume_every = "auto"
    writer = _writer(settings)
    assert not writer.state_due(1)  # none in the first RESUME_MIN_S of training
    monkeypatch.setattr(loop, "RESUME_MIN_S", 0.2)
    time.sleep(0.25)
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
    writer.last_state = time.monotonic()
    time.sleep(cost * 1.1)
    assert writer.state_due(4)
