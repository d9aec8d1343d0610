"""Train one arm: a flat loop over preloaded tensors, reporting once per epoch.

Controlled comparison: the model is built right after seeding (equal initial weights across arms),
and each epoch's batch order and augmentation draws come from generators seeded by (seed, epoch),
the same for every arm. Dropout masks come from the arm's own (seeded) global generator: dropout is
that arm's treatment. No host-device synchronization inside the step loop: running sums stay on
the device and are read once per epoch.
"""

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worker import checkpoint
from worker import data as D
from worker.augment import affine_matrices, epoch_draws, warp
from worker.config import TrainConfig
from worker.models import build_model
from worker.regularize import (
    OptimizerStep,
    apply_penalties,
    make_optimizer,
    penalty_terms,
    prox_params,
    proximal_l1_step,
)
from worker.stats import histogram_bases, weight_figures

EVAL_BATCH = 4096


class Stopped(Exception):
    """should_stop() said so; raised between batches."""


@dataclass
class EpochReport:
    epoch: int
    metrics: dict[str, float]
    layers: dict[str, dict[str, float]]
    histograms: dict[str, tuple[int, list[int]]]  # layer -> (level, counts)
    # What resuming after this epoch needs, as the blob the worker stores (checkpoint.snapshot:
    # taken on the training thread, safe to hand to another), and the CPU seconds taking it cost.
    resume: bytearray | None = None
    resume_s: float = 0.0


@dataclass
class TrainResult:
    model: nn.Module
    epoch: int
    metrics: dict[str, Any] = field(default_factory=dict)


def flush_denormals() -> None:
    """Make this process's CPU treat denormal floats (nonzero, under 1.2e-38) as zero. The
    worker's entry point calls it first thing, and so does every benchmark.

    Denormals take a slow path on x86 CPUs, and training the tutorial's network makes them: from
    about epoch 5, Adam's first moment of weights that rarely get a gradient decays below the
    normal range, and from epoch 9 tens of thousands of first-layer weights and gradients follow.
    Kept, later epochs take several times as long (bench/denormals.py); flushed, every epoch
    takes the same. What flushing changes: a value that would have been denormal is
    0. Those weights multiply pixels that are (almost) always 0; Original and Lasso end
    bit-identical, and Ridge's losses move by less than running on one thread instead of two
    moves them. The checkpoint holds the zeros, so it reproduces every figure.

    Call it before torch's first parallel op: its intra-op threads copy the float mode of the
    thread that starts them and never read it again (set later, it reaches the main thread only,
    and the slow epochs stay). Not at import: it is process-wide, and the test process runs
    libraries that need denormals (hypothesis refuses to generate floats without them). A no-op
    where the CPU has no such mode; GPUs are unaffected."""
    torch.set_flush_denormal(True)


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def mixed_precision(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """Around each training step's forward and loss: bf16 autocast when the experiment asks for
    it. Weights, gradients and the optimizer stay fp32, and evaluation is never autocast, so a
    checkpoint reproduces the logged figures either way."""
    if cfg.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compiled(model: nn.Module, compile_model: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's forward for training steps: torch.compile'd when the worker is asked to
    (REGLAB_COMPILE); its parameters are the model's own either way."""
    return torch.compile(model) if compile_model else model


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation for every arm of an experiment in a given epoch."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def model_for(cfg: TrainConfig, split: D.Split) -> nn.Module:
    return build_model(
        cfg.model,
        tuple(split.x.shape[1:]),
        D.NUM_CLASSES,
        cfg.hidden,
        cfg.seed,
        depth=cfg.depth,
        dropout=cfg.dropout,
        batchnorm=cfg.batchnorm,
    )


@torch.inference_mode()
def evaluate(model: nn.Module, split: D.Split) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in eval mode (no dropout, running BN statistics)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=split.y.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.y.device)
    for i in range(0, len(split), EVAL_BATCH):
        xb = D.as_float(split.x[i : i + EVAL_BATCH])
        yb = split.y[i : i + EVAL_BATCH]
        logits = model(xb)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").double()
        correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    n = len(split)
    return loss_sum.item() / n, correct.item() / n


def resume_state(epoch: int, model: nn.Module, opt, metrics: dict[str, Any]) -> bytearray:
    """Weights, optimizer and RNG after `epoch`, snapshotted into a resume blob. The batch order
    and augmentation come from (seed, epoch) generators, so with these a resumed run continues
    exactly as it would have."""
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "metrics": metrics,
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return checkpoint.snapshot(state)


def timed_snapshot(
    wanted: bool, take: Callable[..., bytearray], *args: Any
) -> tuple[bytearray | None, float]:
    """The resume blob take(*args) snapshots, if wanted, and the CPU seconds it took this (the
    training) thread: the writer counts them in the spacing of resume states."""
    if not wanted:
        return None, 0.0
    started = time.thread_time()
    blob = take(*args)
    return blob, time.thread_time() - started


def load_data(cfg: TrainConfig, root: Path, download: bool, device: torch.device):
    train = D.subset(D.load_split(cfg.dataset, root, True, download), cfg.train_per_class, cfg.seed)
    val = D.subset(D.load_split(cfg.dataset, root, False, download), cfg.val_per_class, cfg.seed)
    return D.to_device(train, device), D.to_device(val, device)


def epoch_batches(
    split: D.Split, cfg: TrainConfig, epoch: int, should_stop: Callable[[], bool]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches of one epoch: the order and augmentation draws every arm shares,
    augmentation applied (training batches only). Stops between batches when asked."""
    n, device = len(split), split.y.device
    order = epoch_order(n, cfg.seed, epoch).to(device)
    # Every image's warp for the epoch at once: per batch, twenty small ops cost more than it.
    thetas = (
        affine_matrices(
            epoch_draws(n, cfg.seed, epoch).to(device), cfg.aug_flip, cfg.aug_rotate, cfg.aug_scale
        )
        if cfg.augment
        else None
    )
    for i in range(0, n, cfg.batch_size):
        if should_stop():
            raise Stopped(f"stopped during epoch {epoch}")
        idx = order[i : i + cfg.batch_size]
        xb, yb = split.take(idx)
        xb = D.as_float(xb)
        if thetas is not None:
            xb = warp(xb, thetas[i : i + cfg.batch_size])
        yield xb, yb


def train(
    cfg: TrainConfig,
    train_split: D.Split,
    val_split: D.Split,
    device: torch.device,
    report: Callable[[EpochReport], None] = lambda r: None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[dict[str, float], int], None] = lambda bases, from_epoch: None,
    resume: dict[str, Any] | None = None,
    keep_resume: bool | Callable[[int], bool] = False,
    measure: bool = True,
    compile_model: bool = False,
) -> TrainResult:
    """Train cfg.epochs epochs (from `resume`'s epoch on, when given), calling report() after
    each. keep_resume: attach a resume state to every report (or to those of the epochs for
    which keep_resume(epoch) says so). measure=False skips the weight
    statistics and histograms (for benchmarks of their cost). compile_model: see compiled()."""
    model = model_for(cfg, train_split).to(device)
    bases = histogram_bases(model.state_dict())  # from the initial weights, resumed or not
    terms = penalty_terms(model, cfg)
    prox = prox_params(model, cfg)
    opt = make_optimizer(cfg, model)
    opt_step = OptimizerStep(opt)
    n = len(train_split)
    result = TrainResult(model=model, epoch=0)
    if resume is not None:
        model.load_state_dict(resume["model"])
        # A copy: torch adopts same-device tensors as they are, and would update them in place.
        opt.load_state_dict(copy.deepcopy(resume["optimizer"]))
        torch.set_rng_state(resume["rng"])
        if "cuda_rng" in resume and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
        result.epoch, result.metrics = resume["epoch"], resume["metrics"]
    on_start(bases, result.epoch)
    forward = compiled(model, compile_model)

    for epoch in range(result.epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        data_sum = torch.zeros((), dtype=torch.float64, device=device)
        pen_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        batches = 0
        for xb, yb in epoch_batches(train_split, cfg, epoch, should_stop):
            with mixed_precision(cfg, device):
                logits = forward(xb)
                data_loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            data_loss.backward()
            pen = apply_penalties(terms)  # value and gradient, outside autograd
            opt_step()
            if prox:
                proximal_l1_step(prox, opt.param_groups[0]["lr"] * cfg.prox_l1)
            data_sum += data_loss.detach()
            if pen is not None:
                pen_sum += pen.detach()
            correct += (logits.argmax(1) == yb).sum()
            batches += 1
        val_loss, val_acc = evaluate(model, val_split)
        train_loss = data_sum.item() / batches
        if not (math.isfinite(val_loss) and math.isfinite(train_loss)):
            raise FloatingPointError(
                f"the loss became {train_loss if not math.isfinite(train_loss) else val_loss} "
                f"in epoch {epoch}; lower the learning rate or the lambdas"
            )
        elapsed = time.perf_counter() - t0
        state = model.state_dict()
        metrics = {
            "train_loss": train_loss,
            "penalty": pen_sum.item() / batches,
            "train_acc": correct.item() / n,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": opt.param_groups[0]["lr"],
            "epoch_time": elapsed,
            "samples_per_s": n / elapsed,
        }
        layers, hists = weight_figures(state, bases) if measure else ({}, {})
        result.epoch, result.metrics = epoch, {**metrics, "layers": layers}
        wanted = keep_resume(epoch) if callable(keep_resume) else keep_resume
        blob, took = timed_snapshot(wanted, resume_state, epoch, model, opt, result.metrics)
        report(EpochReport(epoch, metrics, layers, hists, blob, took))
    return result
