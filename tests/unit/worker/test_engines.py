"""worker.engines: the techniques switched off change nothing, and evaluation is deterministic
(dropout off, batch norm on its running statistics)."""

import torch

from tests.unit.worker.arms import alone as run
from tests.unit.worker.arms import small
from worker.engines import evaluate


def test_every_technique_switched_off_is_bitwise_original(data):
    original, _ = run(small(), data)
    off = small(
        arm="off",
        l1=0,
        l2=0,
        prox_l1=0,
        weight_decay=0,
        dropout=0,
        batchnorm=False,
        augment=False,
        l1_layers=(0.0, 0.0),
        l2_layers=(0.0, 0.0),
    )
    zero, _ = run(off, data)
    for k, v in original.model.state_dict().items():
        assert torch.equal(v, zero.model.state_dict()[k]), k


# ---- dropout, batch norm, eval mode ----


def test_evaluation_is_deterministic_with_dropout(data):
    result, reports = run(small(dropout=0.5), data)
    model = result.model
    first, second = evaluate(model, data[1]), evaluate(model, data[1])
    assert first == second == (reports[-1].metrics["val_loss"], reports[-1].metrics["val_acc"])
    model.train()  # while in training mode, dropout does change the outputs
    xb = data[1].x[:64].float() / 255
    assert not torch.equal(model(xb), model(xb))


def test_batch_norm_evaluates_with_running_statistics(data):
    result, reports = run(small(batchnorm=True), data)
    state = result.model.state_dict()
    assert state["bn_1.num_batches_tracked"].item() > 0
    # One image alone gives the same answer as inside a batch: no batch statistics in eval.
    model = result.model.eval()
    xb = data[1].x[:8].float() / 255
    with torch.inference_mode():
        assert torch.allclose(model(xb)[:1], model(xb[:1]), atol=1e-6)
