"""Shared by the training tests: arms trained alone (the autograd engine) or together (the stacked
engine), through the one training loop."""

import torch

from worker.config import TrainConfig
from worker.train import EpochReport, TrainResult, train

CPU = torch.device("cpu")


def alone(cfg: TrainConfig, data, resume=None, **kw) -> tuple[TrainResult, list[EpochReport]]:
    """One arm on the autograd engine: its result and its report of each epoch."""
    reports: list[EpochReport] = []
    (result,) = train(
        [cfg],
        *data,
        CPU,
        report=reports.extend,
        resume=None if resume is None else [resume],
        **kw,
    )
    return result, reports


def together(
    cfgs: list[TrainConfig], data, **kw
) -> tuple[list[TrainResult], list[list[EpochReport]]]:
    """Arms on the stacked engine: their results and, per epoch, every arm's report."""
    per_epoch: list[list[EpochReport]] = []
    results = train(cfgs, *data, CPU, report=per_epoch.append, stacked=True, **kw)
    return results, per_epoch


def small(**kw) -> TrainConfig:
    """An MLP on 50 images a class for two epochs: quick, and enough for a technique to show."""
    return TrainConfig(
        **{"train_per_class": 50, "val_per_class": 50, "epochs": 2, "hidden": 64, **kw}
    )
