"""The speed options: bf16 mixed precision (an experiment's choice) and torch.compile (a worker's).

On the CPU both run (slowly); what is tested is that they do what they say and change nothing
they should not: weights stay fp32, evaluation stays fp32 (so a checkpoint reproduces the logged
figures), and a compiled model trains as the eager one does.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tests.unit.worker.arms import CPU, alone, together
from worker.config import TrainConfig
from worker.engines import evaluate, mixed_precision, model_for
from worker.train import load_data

BASE = TrainConfig(train_per_class=20, val_per_class=10, epochs=2, hidden=32, batch_size=32)


@pytest.fixture(scope="module")
def data(mnist_root):
    return load_data(BASE, mnist_root, False, CPU)


def run(cfg, data, **kwargs):
    return alone(cfg, data, **kwargs)


def test_bf16_autocasts_training_but_keeps_weights_and_evaluation_fp32(data):
    bf16 = dataclasses.replace(BASE, precision="bf16")
    with mixed_precision(bf16, CPU):
        logits = model_for(bf16, data[0])(torch.rand(4, 1, 28, 28))
    assert logits.dtype == torch.bfloat16  # the step really runs in bf16

    exact, exact_reports = run(BASE, data)
    mixed, mixed_reports = run(bf16, data)
    weights = mixed.model.state_dict()
    assert all(v.dtype == torch.float32 for v in weights.values())
    # Same start, different arithmetic: the weights part, but training still works.
    assert not torch.equal(weights["linear_1.weight"], exact.model.state_dict()["linear_1.weight"])
    first, last = mixed_reports[0].metrics, mixed_reports[-1].metrics
    assert last["train_loss"] < first["train_loss"]
    assert abs(last["train_loss"] - exact_reports[-1].metrics["train_loss"]) < 0.05
    # The logged validation figures are those of an fp32 evaluation of the weights.
    val_loss, val_acc = evaluate(mixed.model, data[1])
    assert (val_loss, val_acc) == (last["val_loss"], last["val_acc"])


def test_bf16_lockstep_agrees_with_bf16_one_by_one(data):
    cfgs = [
        dataclasses.replace(BASE, precision="bf16", arm="original"),
        dataclasses.replace(BASE, precision="bf16", arm="ridge", l2=1e-2),
    ]
    alone = [run(c, data)[1][-1].metrics for c in cfgs]
    _, per_epoch = together(cfgs, data)
    for a, b in zip(alone, (r.metrics for r in per_epoch[-1]), strict=True):
        # Measured equal to 1e-7; bf16 keeps 8 bits of mantissa, so a rounding flip may show.
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-3
        assert abs(a["val_acc"] - b["val_acc"]) <= 0.02


def test_compiled_training_matches_eager(data):
    cfg = dataclasses.replace(BASE, epochs=1, l1=1e-3)
    eager, eager_reports = run(cfg, data)
    fast, fast_reports = run(cfg, data, compile_model=True)
    for a, b in zip(eager_reports, fast_reports, strict=True):
        for key in ("train_loss", "penalty", "val_loss", "val_acc"):
            assert abs(a.metrics[key] - b.metrics[key]) <= 1e-5, key
    for name, v in eager.model.state_dict().items():
        torch.testing.assert_close(fast.model.state_dict()[name], v, rtol=1e-4, atol=1e-5)
    # The returned model is the plain module (checkpoint names unchanged), not a wrapper.
    assert set(fast.model.state_dict()) == {"linear_1.weight", "linear_1.bias", "linear_2.weight"}
    assert F.cross_entropy(fast.model(data[1].x[:8].float() / 255), data[1].y[:8]).isfinite()
