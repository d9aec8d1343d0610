"""The training loop: every arm of every run goes through `train`.

An engine (worker/engines.py) holds the arms' models and optimizers and takes one step of all of
them per batch; this loop feeds it the epoch's batches, keeps the running sums, and once per epoch
builds each arm's figures, checks them, measures the weights and reports. Whatever an epoch
reports (a new measurement, a new metric) is added here, once, for both engines.

Controlled comparison: each epoch's batch order and augmentation draws come from generators seeded
by (seed, epoch), the same for every arm, so a resumed run continues exactly as it would have.
"""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from store.spec import TASK
from worker import data as D
from worker import tasks
from worker.augment import affine_matrices, epoch_draws, warp
from worker.config import TrainConfig
from worker.engines import AutogradEngine, Engine
from worker.lockstep import StackedEngine, lockstep_key
from worker.stats import weight_figures


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
    # A toy task's function view of the arm (worker.tasks.function_view, without the points),
    # when one was kept this epoch; the data points with epoch 1's.
    view: dict[str, Any] | None = None
    points: dict[str, Any] | None = None


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


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation for every arm of an experiment in a given epoch."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


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


def load_task(cfg: TrainConfig) -> tasks.TaskData:
    """A toy task's data for cfg: generated from its seed and data settings."""
    task = tasks.TASKS[cfg.dataset]
    given = {p: getattr(cfg, p) for p in task.params if getattr(cfg, p) is not None}
    return task.make(cfg.seed, **given)


def load_data(cfg: TrainConfig, root: Path, download: bool, device: torch.device):
    if cfg.dataset in TASK:
        data = load_task(cfg)
        return D.to_device(data.train, device), D.to_device(data.val, device)
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


# Function views (a boundary grid is thousands of forward passes per arm) are kept while their
# cost stays within VIEW_SHARE of the training time since the last one, and always after the
# first and the last epoch: the page draws the newest, the final checkpoint reproduces the last.
VIEW_SHARE = 0.05


class ViewBudget:
    """Which epochs keep a function view: see VIEW_SHARE."""

    def __init__(self, first: int, last: int):
        self.first, self.last = first, last
        self.cost = 0.0  # seconds the last views took (every arm's)
        self.since = 0.0  # training seconds since then

    def due(self, epoch: int, epoch_s: float) -> bool:
        self.since += epoch_s
        return epoch in (self.first, self.last) or self.cost <= VIEW_SHARE * self.since

    def spent(self, seconds: float) -> None:
        self.cost, self.since = seconds, 0.0


def arm_views(
    cfg: TrainConfig, models: list[nn.Module], data: tasks.TaskData, epoch: int
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each arm's (view, points): the points with epoch 1's only (they never change)."""
    views = [tasks.function_view(cfg.dataset, m, data, points=epoch == 1) for m in models]
    return [(v, v.pop("points", None)) for v in views]


def target_spread(split: D.Split) -> float:
    """Mean squared deviation of a regression split's targets from their mean (per output):
    R^2 = 1 - MSE / spread, as worker.tasks.r_squared computes it."""
    y = split.y.double()
    return (y - y.mean(0)).pow(2).mean().item()


def r2(mse: float, spread: float) -> float | None:
    return 1 - mse / spread if spread > 0 else None


def train(
    cfgs: list[TrainConfig],
    train_split: D.Split,
    val_split: D.Split,
    device: torch.device,
    report: Callable[[list[EpochReport]], None] = lambda reports: None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[dict[str, float], int], None] = lambda bases, from_epoch: None,
    resume: list[dict[str, Any]] | None = None,
    keep_resume: bool | Callable[[int], bool] = False,
    measure: bool = True,
    compile_model: bool = False,
    stacked: bool = False,
    task: tasks.TaskData | None = None,
) -> list[TrainResult]:
    """Train the arms cfgs for cfgs[0].epochs epochs (from the epoch of `resume`, one state per
    arm, when given), calling report() with every arm's EpochReport after each epoch.

    stacked: on the StackedEngine (arms with equal lockstep_key; a lone arm too), else on the
    AutogradEngine (one arm, any model). keep_resume: attach a resume state to every report (or
    to those of the epochs for which keep_resume(epoch) says so). measure=False skips the
    weight statistics and histograms (for benchmarks of their cost). compile_model: see
    engines.compiled(). task: a toy task's data, for its function views (worker.tasks) when the
    task has one; regression tasks report R^2 and no accuracy either way."""
    make_engine = StackedEngine if stacked else AutogradEngine
    engine: Engine = make_engine(cfgs, train_split, device, compile_model)
    k, n, base = len(cfgs), len(train_split), cfgs[0]
    # The arms share every batch: they may differ only in their own treatment (ARM_FIELDS).
    assert all(lockstep_key(c) == lockstep_key(base) for c in cfgs)
    done, last = 0, [{} for _ in cfgs]  # the last finished epoch, each arm's figures after it
    if resume is not None:
        engine.load_resume(resume)
        done, last = resume[0]["epoch"], [state["metrics"] for state in resume]
    on_start(engine.bases, done)
    classifies = engine.objective.classifies
    spreads = None if classifies else (target_spread(train_split), target_spread(val_split))
    drawn = task is not None and TASK[base.dataset].view is not None
    budget = ViewBudget(done + 1, base.epochs)

    for epoch in range(done + 1, base.epochs + 1):
        t0 = time.perf_counter()
        data_sum = torch.zeros(k, dtype=torch.float64, device=device)
        pen_sum = torch.zeros(k, dtype=torch.float64, device=device)
        correct = torch.zeros(k, dtype=torch.int64, device=device)
        batches = 0
        for xb, yb in epoch_batches(train_split, base, epoch, should_stop):
            data, pen, logits = engine.step(xb, yb)
            data_sum += data
            if pen is not None:
                pen_sum += pen
            correct += engine.objective.hits(logits, yb)
            batches += 1
        val_loss, val_acc = engine.evaluate(val_split)
        train_loss = (data_sum / batches).tolist()
        bad = [v for v in train_loss + val_loss if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"the loss became {bad[0]} in epoch {epoch}; lower the learning rate or the lambdas"
            )
        elapsed = time.perf_counter() - t0
        penalty, train_acc = (pen_sum / batches).tolist(), (correct.double() / n).tolist()
        wanted = keep_resume(epoch) if callable(keep_resume) else keep_resume
        views: list = [(None, None)] * k
        if drawn and budget.due(epoch, elapsed):
            started = time.perf_counter()
            views = arm_views(base, engine.final_models(), task, epoch)
            budget.spent(time.perf_counter() - started)
        reports = []
        for a in range(k):
            metrics = {
                "train_loss": train_loss[a],
                "penalty": penalty[a],
                "train_acc": train_acc[a] if classifies else None,
                "val_loss": val_loss[a],
                "val_acc": val_acc[a] if classifies else None,
                "lr": engine.lr,
                "epoch_time": elapsed,
                "samples_per_s": n / elapsed,  # each arm's images per second of the shared run
                "train_r2": None if classifies else r2(train_loss[a], spreads[0]),
                "val_r2": None if classifies else r2(val_loss[a], spreads[1]),
            }
            state = engine.arm_state(a)
            layers, hists = weight_figures(state, engine.bases) if measure else ({}, {})
            last[a] = {**metrics, "layers": layers}
            blob, took = timed_snapshot(wanted, engine.arm_resume, a, epoch, last[a])
            reports.append(EpochReport(epoch, metrics, layers, hists, blob, took, *views[a]))
        done = epoch
        report(reports)
    return [
        TrainResult(model, done, metrics)
        for model, metrics in zip(engine.final_models(), last, strict=True)
    ]
