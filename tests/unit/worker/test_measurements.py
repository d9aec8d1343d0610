"""Issue 21's per-epoch measurements: shrink and sign flips against the initial weights, dead
ReLU units on the validation split, weight images. Both engines give the same figures, and each
figure recomputes from the arm's weights and its initial (seeded) model."""

import dataclasses
import math
import struct

import pytest
import torch

from tests.unit.worker.arms import CPU, alone, together
from worker.config import TrainConfig
from worker.engines import model_for
from worker.stats import IMAGE_BUDGET, initial_weights, tile_units, weight_figures, weight_images
from worker.train import load_data

BASE = TrainConfig(train_per_class=30, val_per_class=20, epochs=2, hidden=48, batch_size=32)
ARMS = [
    dataclasses.replace(BASE, arm="original"),
    dataclasses.replace(BASE, arm="prox", prox_l1=2.0),
    dataclasses.replace(BASE, arm="ridge", l2=1e-2),
]


@pytest.fixture(scope="module")
def data(mnist_root):
    return load_data(BASE, mnist_root, False, CPU)


def dead_fraction(state: dict[str, torch.Tensor], split) -> float:
    """linear_1's units that output 0 for every image, recomputed from the weights alone."""
    x = split.x.flatten(1).float() / 255
    h = torch.relu(x @ state["linear_1.weight"].T + state["linear_1.bias"])
    return (h.amax(dim=0) <= 0).double().mean().item()


def test_measurements_recompute_from_the_weights_and_agree_across_engines(data):
    stacked, per_epoch = together(ARMS, data)
    for a, cfg in enumerate(ARMS):
        result, reports = alone(cfg, data)
        last, lone = per_epoch[-1][a], reports[-1]
        state = stacked[a].model.state_dict()
        w, w0 = state["linear_1.weight"], model_for(cfg, data[0]).state_dict()["linear_1.weight"]
        figures = last.layers["linear_1.weight"]
        assert math.isclose(figures["shrink"], ((w - w0).norm() / w0.norm()).item(), rel_tol=1e-5)
        flips = (w.sign() * w0.sign() < 0).double().mean().item()
        assert figures["sign_flip_frac"] == pytest.approx(flips, abs=1e-12)
        assert last.dead_units["linear_1"] == pytest.approx(dead_fraction(state, data[1]))
        # The autograd engine measures the same (to rounding: an arm's weights agree to 1e-5).
        lone_figures = lone.layers["linear_1.weight"]
        assert lone_figures["shrink"] == pytest.approx(figures["shrink"], rel=1e-3)
        assert abs(lone_figures["sign_flip_frac"] - figures["sign_flip_frac"]) <= 1e-3
        assert abs(lone.dead_units["linear_1"] - last.dead_units["linear_1"]) <= 1 / BASE.hidden
        assert set(lone.dead_units) == {"linear_1"}
    # The proximal arm kills units: the measurement can tell arms apart.
    assert per_epoch[-1][1].dead_units["linear_1"] > per_epoch[-1][0].dead_units["linear_1"]


def test_weight_images_are_rows_and_column_norms_of_the_first_layer(data):
    (result, reports) = alone(ARMS[2], data)
    images = reports[-1].images
    w = result.model.state_dict()["linear_1.weight"]
    assert images.layer == "linear_1.weight" and images.image_shape == [1, 28, 28]
    assert images.units == [i * 48 // 16 for i in range(16)]
    tiles = torch.frombuffer(bytearray(images.tiles), dtype=torch.float16).float().view(16, 784)
    assert (tiles - w[images.units]).abs().max() <= 1e-3 * w.abs().max()
    importance = struct.unpack("<784f", images.importance)
    assert torch.allclose(torch.tensor(importance), w.abs().sum(0), rtol=1e-6)
    assert images.nbytes <= IMAGE_BUDGET


def test_cifar_sized_images_fit_the_budget_and_the_cnn_shows_its_filters():
    torch.manual_seed(0)
    w = torch.randn(500, 3 * 32 * 32) * 0.02
    images = weight_images({"linear_1.weight": w}, (3, 32, 32))
    assert len(images.units) == 8 and images.nbytes <= IMAGE_BUDGET  # 16 fp16 rows: 96 KiB
    assert tile_units(500, 784) == [i * 500 // 16 for i in range(16)]
    conv = {"conv_1.weight": torch.randn(32, 3, 3, 3), "linear_1.weight": torch.randn(8, 9)}
    images = weight_images(conv, (3, 32, 32))
    assert images.layer == "conv_1.weight" and images.image_shape == [3, 3, 3]
    assert len(images.units) == 16 and len(images.importance) == 4 * 27
    assert weight_images({"linear_1.weight": torch.randn(8, 10)}, (1, 28, 28)) is None


def test_a_weight_at_zero_is_no_sign_flip_and_shrink_is_relative():
    w0 = torch.tensor([[1.0, -2.0, 3.0, -4.0]])
    w = torch.tensor([[-1.0, 0.0, 3.0, -4.0]])
    stats, _ = weight_figures({"l.weight": w}, {}, initial_weights({"l.weight": w0}))
    assert stats["l.weight"]["sign_flip_frac"] == 0.25
    assert stats["l.weight"]["shrink"] == pytest.approx(math.sqrt(8 / 30))
