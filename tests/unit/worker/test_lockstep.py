"""Lockstep training equals training the arms one by one, and its states resume either way."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tests.unit.worker.arms import CPU, alone, together
from worker import checkpoint, lockstep
from worker.config import TrainConfig
from worker.lockstep import StackedEngine, lockstep_key
from worker.train import load_data

BASE = TrainConfig(train_per_class=30, val_per_class=20, epochs=3, hidden=48, batch_size=32)
ARMS = [
    dataclasses.replace(BASE, arm="original"),
    dataclasses.replace(BASE, arm="lasso", l1=1e-3),
    dataclasses.replace(BASE, arm="ridge", l2=1e-2),
    dataclasses.replace(
        BASE, arm="mixed", l1_layers=(1e-3, 0.0), l2_layers=(0.0, 1e-2), penalize_bias=True
    ),
    dataclasses.replace(BASE, arm="prox", prox_l1=0.5),
    dataclasses.replace(BASE, arm="decay", weight_decay=0.1),
]


@pytest.fixture(scope="module")
def data(mnist_root):
    return load_data(BASE, mnist_root, False, CPU)


def one_by_one(cfgs, data):
    return [alone(cfg, data) for cfg in cfgs]


def close(a: dict, b: dict, tol=1e-5):
    for key in ("train_loss", "penalty", "train_acc", "val_loss", "val_acc"):
        assert abs(a[key] - b[key]) <= tol * max(1.0, abs(a[key])), (key, a[key], b[key])


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_lockstep_equals_one_by_one(data, optimizer):
    cfgs = [
        dataclasses.replace(
            c,
            optimizer=optimizer,
            momentum=0.9 if optimizer == "sgd" else 0,
            lr=0.05 if optimizer == "sgd" else 1e-3,
        )
        for c in ARMS
    ]
    alone = one_by_one(cfgs, data)
    stacked, per_epoch = together(cfgs, data)
    assert len(per_epoch) == BASE.epochs
    for a, (result, reports) in enumerate(alone):
        for epoch, group in enumerate(per_epoch):
            close(reports[epoch].metrics, group[a].metrics)  # the same losses, to 1e-5
        if cfgs[a].l1 or cfgs[a].l1_layers:
            # The L1 subgradient sign(w) flips on rounding-level differences for weights at
            # zero, so those weights jitter by about lr; the layer statistics still agree.
            ref = reports[-1].layers["linear_1.weight"]["mean_abs"]
            got = per_epoch[-1][a].layers["linear_1.weight"]["mean_abs"]
            assert abs(ref - got) <= 1e-3 * ref
            continue
        for name, w in result.model.state_dict().items():
            assert torch.allclose(w, stacked[a].model.state_dict()[name], atol=1e-5), (a, name)


@pytest.mark.parametrize("depth", [1, 3])
def test_hand_written_backward_equals_autograd(data, depth):
    cfgs = [dataclasses.replace(BASE, depth=depth, arm=str(i), seed=i) for i in range(3)]
    model = StackedEngine(cfgs, data[0], CPU).model
    x, y = data[0].x[:40].float() / 255, data[0].y[:40]
    loss, logits = model.forward_backward(x, y)
    by_hand = {name: p.grad.clone() for name, p in model.named_parameters()}

    for p in model.parameters():
        p.grad = None
    reference = model(x)
    per_arm = F.cross_entropy(reference.reshape(-1, 10), y.repeat(3), reduction="none")
    per_arm.view(3, -1).mean(1).sum().backward()
    torch.testing.assert_close(logits, reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(loss, per_arm.view(3, -1).mean(1), rtol=0, atol=1e-6)
    assert len(by_hand) == 2 * depth + 1
    for name, p in model.named_parameters():
        torch.testing.assert_close(by_hand[name], p.grad, rtol=1e-5, atol=1e-7, msg=name)
        assert p.grad.abs().sum() > 0, name  # every layer really gets a gradient


@pytest.mark.parametrize("depth", [2])
def test_deeper_lockstep_equals_one_by_one(data, depth):
    cfgs = [dataclasses.replace(c, depth=depth) for c in ARMS[:3]]
    alone = one_by_one(cfgs, data)
    _, per_epoch = together(cfgs, data)
    for (_, reports), arm in zip(alone, range(3), strict=True):
        for mine, theirs in zip(reports, (e[arm] for e in per_epoch), strict=True):
            close(mine.metrics, theirs.metrics)


def test_lockstep_with_augmentation_equals_one_by_one(data):
    cfgs = [dataclasses.replace(c, augment=True, aug_rotate=20) for c in ARMS[:3]]
    alone = one_by_one(cfgs, data)
    _, per_epoch = together(cfgs, data)
    for a, (_result, reports) in enumerate(alone):
        close(reports[-1].metrics, per_epoch[-1][a].metrics)


def test_resume_states_cross_between_lockstep_and_one_by_one(data):
    cfgs = [ARMS[0], ARMS[2], ARMS[5]]  # no L1 subgradient, so weights compare to 1e-5
    whole = one_by_one(cfgs, data)
    _, first = together([dataclasses.replace(c, epochs=2) for c in cfgs], data, keep_resume=True)
    states = [checkpoint.restore(r.resume) for r in first[-1]]
    # An arm stopped in lockstep resumes alone...
    resumed, _ = alone(cfgs[1], data, resume=states[1])
    for name, w in whole[1][0].model.state_dict().items():
        assert torch.allclose(w, resumed.model.state_dict()[name], atol=1e-5), name
    # ...and arms stopped alone resume in lockstep.
    rest, _ = together(cfgs, data, resume=states)
    for a in range(3):
        for name, w in whole[a][0].model.state_dict().items():
            assert torch.allclose(w, rest[a].model.state_dict()[name], atol=1e-5), (a, name)


def test_only_compatible_arms_share_a_computation():
    assert lockstep_key(ARMS[0]) == lockstep_key(ARMS[3]) is not None
    assert lockstep_key(dataclasses.replace(BASE, dropout=0.5)) is None
    assert lockstep_key(dataclasses.replace(BASE, batchnorm=True)) is None
    assert lockstep_key(dataclasses.replace(BASE, model="cnn")) is None
    assert lockstep_key(dataclasses.replace(BASE, augment=True)) != lockstep_key(BASE)
    assert lockstep_key(dataclasses.replace(BASE, optimizer="sgd")) != lockstep_key(BASE)


def test_cpu_groups_only_as_many_arms_as_the_cache_holds(monkeypatch, tmp_path):
    # The tutorial's network: 397,510 float32 parameters, four copies (weights, gradients, two
    # Adam moments) = 6.36 MB per arm.
    index = tmp_path / "index3"
    index.mkdir()
    monkeypatch.setattr(lockstep, "CPU_CACHES", tmp_path)
    tutorial = TrainConfig(hidden=500)
    for size, arms in (("32768K", 3), ("64M", 6), ("4096K", 1), ("1G", 16)):
        (index / "size").write_text(size + "\n")
        assert (
            lockstep.last_level_cache()
            == int(size[:-1]) * {"K": 2**10, "M": 2**20, "G": 2**30}[size[-1]]
        )
        assert lockstep.group_limit(tutorial, CPU, 16) == arms, size
    assert lockstep.group_limit(dataclasses.replace(tutorial, hidden=50), CPU, 4) == 4
    (index / "size").write_text("32768K\n")
    # CIFAR-10's first layer is four times wider: one arm at a time.
    assert lockstep.group_limit(dataclasses.replace(tutorial, dataset="cifar10"), CPU, 16) == 1
    # No cache figure, or a GPU: the configured limit.
    assert lockstep.group_limit(tutorial, torch.device("cuda"), 16) == 16
    (index / "size").unlink()
    assert lockstep.last_level_cache() is None
    assert lockstep.group_limit(tutorial, CPU, 16) == 16


def test_the_worker_claims_a_group_no_larger_than_the_limit(settings, monkeypatch, tmp_path):
    # A cache that holds two arms of this network: of five queued arms the worker takes two
    # together and leaves three queued for itself or another worker.
    from store import queue
    from store.engine import get_engine
    from worker.loop import Worker

    config = {"train_per_class": 5, "val_per_class": 5, "epochs": 1, "hidden": 500}
    (tmp_path / "index3").mkdir()
    (tmp_path / "index3" / "size").write_text(f"{int(2.5 * 6.36e6 / 0.6)}\n")
    monkeypatch.setattr(lockstep, "CPU_CACHES", tmp_path)
    settings.device = "cpu"  # the cache rule is the CPU's; on a GPU the group is max_group
    engine = get_engine(settings.db_url)
    queue.create_experiment(engine, "group", config, [(f"arm {i}", {}) for i in range(5)])
    worker = Worker(settings)
    worker.id = queue.register_worker(engine, "host", 1, "cpu")
    claims, states = worker._group(queue.claim_next(engine, worker.id), None)
    assert [c.name for c in claims] == ["arm 0", "arm 1"] and states == [None, None]
    left = [q.config["arm"] for q in queue.queued_siblings(engine, claims[0])]
    assert left == ["arm 2", "arm 3", "arm 4"]
