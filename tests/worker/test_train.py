"""Training on real data: controlled comparison, penalties' effects, checkpoints that reproduce."""

import dataclasses

import pytest
import torch

from store import bins
from tests.conftest import needs_real_mnist
from tests.worker.arms import CPU, alone
from worker.checkpoint import final_files
from worker.config import TrainConfig
from worker.engines import evaluate
from worker.models import build_model
from worker.stats import histogram_bases, histograms, layer_stats
from worker.train import Stopped, load_data


@pytest.fixture(scope="module")
def tutorial_data(mnist_root):
    cfg = TrainConfig(train_per_class=50, val_per_class=50)
    return load_data(cfg, mnist_root, download=False, device=CPU)


def run(cfg, data, **kw):
    return alone(cfg, data, **kw)


def small(**kw) -> TrainConfig:
    return TrainConfig(train_per_class=50, val_per_class=50, epochs=2, hidden=64, **kw)


def test_zero_lambda_arm_ends_bitwise_equal_to_original(tutorial_data):
    original, _ = run(small(arm="original"), tutorial_data)
    zero, _ = run(small(arm="zero", l1=0.0, l2=0.0), tutorial_data)
    for k, v in original.model.state_dict().items():
        assert torch.equal(v, zero.model.state_dict()[k]), k


def test_penalty_changes_the_outcome(tutorial_data):
    original, _ = run(small(), tutorial_data)
    ridge, reports = run(small(l2=1e-2), tutorial_data)
    assert not torch.equal(original.model.linear_1.weight, ridge.model.linear_1.weight)
    assert all(r.metrics["penalty"] > 0 for r in reports)


def test_reports_one_epoch_at_a_time_with_all_measurements(tutorial_data):
    edges_seen = []
    _, reports = run(small(l1=1e-4), tutorial_data, on_start=lambda b, e: edges_seen.append(b))
    assert [r.epoch for r in reports] == [1, 2]
    m = reports[-1].metrics
    assert set(m) == {
        "train_loss",
        "penalty",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "epoch_time",
        "samples_per_s",
        "train_r2",
        "val_r2",
    }
    assert 0 <= m["val_acc"] <= 1 and m["train_loss"] > 0 and m["samples_per_s"] > 0
    assert m["train_r2"] is None and m["val_r2"] is None  # R^2: regression tasks only
    assert set(reports[-1].layers) == {"linear_1.weight", "linear_1.bias", "linear_2.weight"}
    (bases,) = edges_seen
    assert set(bases) == {"linear_1.weight", "linear_2.weight"}  # histograms of weight matrices
    level, counts = reports[-1].histograms["linear_1.weight"]
    assert len(counts) == bins.BINS and level >= 0
    assert sum(counts) == 784 * 64  # every weight is in a bin: the range widens, never clips


def test_should_stop_stops_between_batches(tutorial_data):
    calls = []

    def stop_on_third():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Stopped):
        run(small(), tutorial_data, should_stop=stop_on_third)


def test_checkpoint_loads_into_the_tutorial_class_and_reproduces_the_log(tmp_path, tutorial_data):
    cfg = small()
    result, reports = run(cfg, tutorial_data)
    files = final_files(result.model.state_dict(), cfg.to_dict(), result.epoch, result.metrics)
    (tmp_path / "run.pt").write_bytes(files["pt"])
    ckpt = torch.load(tmp_path / "run.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["config"]["hidden"] == 64
    assert ckpt["metrics"]["val_acc"] == reports[-1].metrics["val_acc"]

    class TutorialNet(torch.nn.Module):  # as the tutorial writes it
        def __init__(self):
            super().__init__()
            self.linear_1 = torch.nn.Linear(784, 64)
            self.relu = torch.nn.ReLU()
            self.linear_2 = torch.nn.Linear(64, 10, bias=False)

        def forward(self, x):
            return self.linear_2(self.relu(self.linear_1(x.flatten(1))))

    net = TutorialNet()
    net.load_state_dict(ckpt["state_dict"], strict=True)
    # The same statistics code on the loaded weights gives exactly the logged figures.
    assert layer_stats(ckpt["state_dict"]) == reports[-1].layers
    # Histograms too, on the edges fixed from the (seeded, shared) initial weights.
    bases = histogram_bases(build_model("mlp", (1, 28, 28), 10, 64, cfg.seed).state_dict())
    assert histograms(ckpt["state_dict"], bases) == reports[-1].histograms
    # And evaluating it gives the reported validation accuracy.
    val_loss, val_acc = evaluate(net, tutorial_data[1])
    assert val_acc == reports[-1].metrics["val_acc"]
    assert val_loss == pytest.approx(reports[-1].metrics["val_loss"], rel=1e-9)


def test_safetensors_carries_the_same_tensors_and_the_config(tmp_path, tutorial_data):
    from safetensors import safe_open

    cfg = small()
    result, _ = run(cfg, tutorial_data)
    files = final_files(result.model.state_dict(), cfg.to_dict(), 2, {})
    (tmp_path / "run.safetensors").write_bytes(files["safetensors"])
    with safe_open(str(tmp_path / "run.safetensors"), "pt") as f:
        assert f.metadata()["format"] == "reglab/1"
        assert '"hidden": 64' in f.metadata()["config"]
        for k, v in result.model.state_dict().items():
            assert torch.equal(f.get_tensor(k), v)


@needs_real_mnist
def test_tutorial_lasso_shrinks_first_layer_below_original(mnist_root):
    cfg = TrainConfig(epochs=3)  # the tutorial preset: 100 per class, 784-500-10, Adam 1e-3
    data = load_data(cfg, mnist_root, download=False, device=CPU)
    _, orig = run(dataclasses.replace(cfg, arm="original"), data)
    _, lasso = run(dataclasses.replace(cfg, arm="lasso", l1=1e-4), data)
    o, la = orig[-1].layers["linear_1.weight"], lasso[-1].layers["linear_1.weight"]
    assert la["mean_abs"] < 0.8 * o["mean_abs"]
    assert orig[-1].metrics["val_acc"] > 0.8  # it really learned MNIST
