from pathlib import Path

import pytest
import torch

from tests.conftest import needs_real_mnist
from tests.fake_mnist import write_fake_mnist
from worker import data as D
from worker.data import DatasetMissing, load_split, select_n_per_class, subset


def test_subset_is_class_balanced_and_reproducible(mnist_root):
    train = load_split("mnist", mnist_root, train=True, download=False)
    a = select_n_per_class(train.y, 20, seed=0)
    b = select_n_per_class(train.y, 20, seed=0)
    c = select_n_per_class(train.y, 20, seed=1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.bincount(train.y[a], minlength=10).tolist() == [20] * 10
    assert len(set(a.tolist())) == 200  # no index twice


def test_take_returns_the_examples_at_the_indices_in_their_order(mnist_root):
    split = load_split("mnist", mnist_root, True, False)
    idx = torch.tensor([7, 0, 7, len(split) - 1])
    x, y = split.take(idx)
    assert x.dtype == torch.uint8 and x.shape == (4, *split.x.shape[1:])
    for row, i in enumerate(idx.tolist()):
        assert torch.equal(x[row], split.x[i]) and y[row] == split.y[i]


def test_subset_refuses_more_than_a_class_has(mnist_root):
    train = load_split("mnist", mnist_root, train=True, download=False)
    too_many = int(torch.bincount(train.y).min()) + 1
    with pytest.raises(ValueError, match="per class were asked"):
        select_n_per_class(train.y, too_many, seed=0)


def test_generated_files_load_through_torchvision(fake_mnist_root):
    train = load_split("mnist", fake_mnist_root, train=True, download=False)
    test = load_split("mnist", fake_mnist_root, train=False, download=False)
    assert train.x.dtype == torch.uint8 and train.x.shape[1:] == (1, 28, 28)
    assert len(train) == 600 and len(test) == 400


@needs_real_mnist
def test_real_mnist_subset_has_the_tutorial_sizes(mnist_root):
    train = subset(load_split("mnist", mnist_root, True, False), 100, seed=0)
    val = subset(load_split("mnist", mnist_root, False, False), 300, seed=0)
    assert len(train) == 1000 and len(val) == 3000
    assert torch.bincount(val.y).tolist() == [300] * 10


def test_missing_dataset_says_where_to_put_it(tmp_path: Path):
    with pytest.raises(DatasetMissing) as err:
        load_split("mnist", tmp_path, train=True, download=False)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "REGLAB_DATA_DIR" in message


@pytest.mark.parametrize(
    ("name", "folder"), [("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")]
)
def test_other_mnist_style_datasets_load_through_torchvision(tmp_path, name, folder):
    write_fake_mnist(tmp_path, train_per_class=5, test_per_class=3, folder=folder)
    train = load_split(name, tmp_path, train=True, download=False)
    assert train.x.shape == (50, 1, 28, 28) and torch.bincount(train.y).tolist() == [5] * 10


def test_missing_cifar_says_where_to_put_it(tmp_path: Path):
    with pytest.raises(DatasetMissing) as err:
        load_split("cifar10", tmp_path, train=True, download=False)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value)
    assert "data_batch_1" in str(err.value)


def test_as_float_scales_pixels_and_passes_float_inputs_unchanged():
    pixels = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert D.as_float(pixels).tolist() == [[0.0, 1.0]]
    points = torch.tensor([[0.5, -2.0]])
    assert D.as_float(points) is points and points.tolist() == [[0.5, -2.0]]
