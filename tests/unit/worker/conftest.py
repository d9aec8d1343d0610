"""Data the worker's unit tests train on, loaded once per module (a module may define its own)."""

import pytest
import torch

from worker.config import TrainConfig
from worker.train import load_data


@pytest.fixture(scope="module")
def data(mnist_root):
    cfg = TrainConfig(train_per_class=50, val_per_class=50)
    return load_data(cfg, mnist_root, False, torch.device("cpu"))


@pytest.fixture(scope="module")
def tutorial_data(mnist_root):
    return load_data(TrainConfig(), mnist_root, False, torch.device("cpu"))  # 100 a class, 300 val
