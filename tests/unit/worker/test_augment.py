"""worker.augment: the warp samples where affine_grid does, flips mirror, draws differ per image,
and augmentation touches training batches only and helps on small data."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import needs_real_mnist
from tests.unit.worker.arms import alone as run
from tests.unit.worker.arms import small
from worker import augment as A
from worker import train as T
from worker.config import TrainConfig
from worker.engines import evaluate


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
