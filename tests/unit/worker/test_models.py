"""worker.models: deeper MLPs and the small CNN train and expose their layers; every arm starts
from the same weights."""

import torch

from tests.unit.worker.arms import alone as run
from tests.unit.worker.arms import small
from worker.models import SmallCNN, build_model


def test_batch_norm_and_dropout_arms_start_from_the_original_weights():
    plain = build_model("mlp", (1, 28, 28), 10, 64, seed=0)
    treated = build_model("mlp", (1, 28, 28), 10, 64, seed=0, dropout=0.5, batchnorm=True)
    for name in ("linear_1.weight", "linear_1.bias", "linear_2.weight"):
        assert torch.equal(plain.state_dict()[name], treated.state_dict()[name])


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
