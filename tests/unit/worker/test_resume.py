"""A run stopped after any epoch and resumed from its resume state ends exactly as if it never
stopped: the resume state carries weights, optimizer and RNG, and the batch order and augmentation
come from (seed, epoch) generators."""

import dataclasses

import pytest
import torch

from tests.unit.worker.arms import CPU, alone
from worker import checkpoint
from worker.config import TrainConfig
from worker.train import load_data


@pytest.fixture(scope="module")
def data(mnist_root):
    return load_data(TrainConfig(train_per_class=30, val_per_class=20), mnist_root, False, CPU)


@pytest.mark.parametrize("stop_after", [1, 3, 4])
def test_resumed_run_is_bitwise_the_uninterrupted_one(data, stop_after):
    cfg = TrainConfig(
        train_per_class=30,
        val_per_class=20,
        epochs=4,
        hidden=32,
        dropout=0.3,
        augment=True,
        l1=1e-4,
    )
    straight, whole = alone(cfg, data)
    _, first = alone(dataclasses.replace(cfg, epochs=stop_after), data, keep_resume=True)
    # From the blob the worker stores.
    state = checkpoint.restore(first[-1].resume)
    started_from = []
    resumed, rest = alone(
        cfg, data, resume=state, on_start=lambda bases, epoch: started_from.append(epoch)
    )

    assert started_from == [stop_after]
    assert [r.epoch for r in rest] == list(range(stop_after + 1, 5))
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for a, b in zip(whole[stop_after:], rest, strict=True):
        assert {k: v for k, v in a.metrics.items() if k not in ("epoch_time", "samples_per_s")} == {
            k: v for k, v in b.metrics.items() if k not in ("epoch_time", "samples_per_s")
        }
        assert a.layers == b.layers and a.histograms == b.histograms
    assert resumed.metrics["val_acc"] == straight.metrics["val_acc"]
