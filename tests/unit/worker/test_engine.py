"""The regularization engine: each technique does what it says, measured on real data."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import needs_real_mnist
from tests.unit.worker.arms import alone
from worker import augment as A
from worker import train as T
from worker.config import TrainConfig
from worker.engines import evaluate
from worker.models import FullyConnected, SmallCNN, build_model
from worker.regularize import (
    apply_penalties,
    make_optimizer,
    penalized,
    penalty_terms,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data(mnist_root):
    return T.load_data(TrainConfig(train_per_class=50, val_per_class=50), mnist_root, False, CPU)


@pytest.fixture(scope="module")
def tutorial_data(mnist_root):
    return T.load_data(TrainConfig(), mnist_root, False, CPU)  # 100 per class, 300 to validate


def run(cfg, data, **kw):
    return alone(cfg, data, **kw)


def small(**kw) -> TrainConfig:
    return TrainConfig(
        **{"train_per_class": 50, "val_per_class": 50, "epochs": 2, "hidden": 64, **kw}
    )


# ---- penalties ----


def test_per_layer_lambdas_equal_a_hand_computation():
    model = FullyConnected(3, 2, 2)
    with torch.no_grad():
        model.linear_1.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        model.linear_2.weight.copy_(torch.tensor([[-0.5, 2.0], [1.5, 0.0]]))
    cfg = TrainConfig(l1_layers=(0.01, 0.0), l2_layers=(0.0, 0.1))
    # L1 on layer 1: 0.01 * 7.5; L2 on layer 2: 0.1 * (0.25 + 4 + 2.25)
    assert torch.isclose(apply_penalties(penalty_terms(model, cfg)), torch.tensor(0.075 + 0.65))


def test_include_bias_adds_biases_and_batch_norm_parameters():
    model = FullyConnected(4, 3, 2, batchnorm=True)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [names[id(p)] for p in penalized(model)] == ["linear_1.weight", "linear_2.weight"]
    assert sorted(names[id(p)] for p in penalized(model, include_bias=True)) == [
        "bn_1.bias",
        "bn_1.weight",
        "linear_1.bias",
        "linear_1.weight",
        "linear_2.weight",
    ]


def test_batch_norm_and_dropout_arms_start_from_the_original_weights():
    plain = build_model("mlp", (1, 28, 28), 10, 64, seed=0)
    treated = build_model("mlp", (1, 28, 28), 10, 64, seed=0, dropout=0.5, batchnorm=True)
    for name in ("linear_1.weight", "linear_1.bias", "linear_2.weight"):
        assert torch.equal(plain.state_dict()[name], treated.state_dict()[name])


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


# ---- optimizer weight decay ----


def test_sgd_weight_decay_is_an_l2_penalty_of_half_the_strength():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 2, 2), torch.randint(0, 10, (16,))

    def step(cfg):
        model = build_model("mlp", (1, 2, 2), 10, 8, seed=1)
        opt = make_optimizer(cfg, model)
        F.cross_entropy(model(x), y).backward()
        apply_penalties(penalty_terms(model, cfg))
        opt.step()
        return model.state_dict()

    decayed = step(TrainConfig(optimizer="sgd", lr=0.1, weight_decay=0.2))
    penalized_ = step(TrainConfig(optimizer="sgd", lr=0.1, l2=0.1))
    for k in decayed:
        assert torch.allclose(decayed[k], penalized_[k], atol=1e-7), k


def test_weight_decay_leaves_biases_alone_unless_asked():
    model = build_model("mlp", (1, 2, 2), 10, 8, seed=1)
    groups = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.1), model).param_groups
    assert [len(g["params"]) for g in groups] == [2, 1] and groups[1]["weight_decay"] == 0


def test_adamw_decay_shrinks_weights_where_adam_without_decay_does_not(data):
    plain, _ = run(small(optimizer="adamw"), data)
    decayed, _ = run(small(optimizer="adamw", weight_decay=0.5), data)
    assert decayed.model.linear_1.weight.abs().mean() < plain.model.linear_1.weight.abs().mean()


# ---- proximal L1 ----


@needs_real_mnist
def test_proximal_l1_makes_exact_zeros_where_the_subgradient_makes_almost_none(tutorial_data):
    cfg = dataclasses.replace(TrainConfig(), epochs=10)
    _, sub = run(dataclasses.replace(cfg, arm="l1", l1=1e-4), tutorial_data)
    _, prox = run(dataclasses.replace(cfg, arm="prox", prox_l1=0.1), tutorial_data)
    sub_zero = sub[-1].layers["linear_1.weight"]["zero_frac"]
    prox_zero = prox[-1].layers["linear_1.weight"]["zero_frac"]
    assert prox_zero > 0.25 and sub_zero < 0.01, (prox_zero, sub_zero)
    assert prox[-1].metrics["val_acc"] > 0.8  # sparse, and still a good classifier


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


# ---- augmentation ----


def test_identity_draws_leave_images_unchanged():
    x = torch.rand(4, 1, 28, 28)
    u = torch.tensor([[0.9, 0.5, 1.0, 0.5, 0.5, 0.5]] * 4)  # no flip, 0 deg, whole image, centred
    assert torch.allclose(A.warp(x, A.affine_matrices(u, True, 15, 0.8)), x, atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 1, 28, 28), (5, 3, 32, 32)])
def test_warp_samples_where_affine_grid_does(shape):
    x = torch.rand(shape)
    theta = A.affine_matrices(torch.rand(shape[0], 6), True, 30.0, 0.5)
    grid = F.affine_grid(theta, list(shape), align_corners=False)
    expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert torch.allclose(A.warp(x, theta), expected, atol=1e-5)


def test_flip_mirrors_and_draws_differ_per_image():
    x = torch.rand(2, 1, 28, 28)
    u = torch.tensor([[0.1, 0.5, 1.0, 0.5, 0.5, 0.5], [0.9, 0.5, 1.0, 0.5, 0.5, 0.5]])
    out = A.warp(x, A.affine_matrices(u, True, 0, 1.0))
    assert torch.allclose(out[0], x[0].flip(-1), atol=1e-5)  # the first image flipped
    assert torch.allclose(out[1], x[1], atol=1e-5)  # the second one not
    draws = A.epoch_draws(100, seed=0, epoch=1)
    assert torch.equal(draws, A.epoch_draws(100, seed=0, epoch=1))
    assert not torch.equal(draws, A.epoch_draws(100, seed=0, epoch=2))
    assert len({tuple(r.tolist()) for r in draws}) == 100


def test_augmentation_touches_training_batches_only(data, monkeypatch):
    train_split, val_split = data
    val_before = val_split.x.clone()
    seen = []
    real = A.warp

    def spy(x, theta):
        seen.append(x.shape[0])
        return real(x, theta)

    monkeypatch.setattr(T, "warp", spy)
    cfg = small(augment=True, aug_rotate=30, aug_scale=0.5)
    result, reports = run(cfg, data)
    assert sum(seen) == cfg.epochs * len(train_split)  # every training image, once per epoch
    assert max(seen) <= cfg.batch_size
    assert torch.equal(val_split.x, val_before)
    # The reported validation accuracy is that of the untouched validation images.
    assert evaluate(result.model, val_split)[1] == reports[-1].metrics["val_acc"]


@needs_real_mnist
def test_augmentation_helps_on_small_data(tutorial_data):
    cfg = dataclasses.replace(TrainConfig(), epochs=15)
    _, plain = run(cfg, tutorial_data)
    _, aug = run(dataclasses.replace(cfg, augment=True, aug_flip=False), tutorial_data)
    assert aug[-1].metrics["val_acc"] > plain[-1].metrics["val_acc"]
    assert aug[-1].metrics["train_acc"] - aug[-1].metrics["val_acc"] < (
        plain[-1].metrics["train_acc"] - plain[-1].metrics["val_acc"]
    )  # a smaller gap


# ---- models ----


def test_deeper_mlp_and_cnn_train_and_expose_their_layers(data):
    _, reports = run(small(depth=3, hidden=32), data)
    assert {"linear_1.weight", "linear_4.weight"} <= set(reports[-1].layers)
    assert set(reports[-1].histograms) == {f"linear_{i}.weight" for i in range(1, 5)}
    result, reports = run(small(model="cnn", hidden=32, batchnorm=True, dropout=0.2), data)
    assert isinstance(result.model, SmallCNN)
    assert [g[0] for g in result.model.layer_groups()] == [
        "conv_1",
        "conv_2",
        "linear_1",
        "linear_2",
    ]
    assert "conv_1.weight" in reports[-1].histograms
    assert 0 <= reports[-1].metrics["val_acc"] <= 1


def test_cnn_takes_colour_images():
    model = build_model("cnn", (3, 32, 32), 10, 16, seed=0)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
