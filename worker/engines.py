"""What the training loop (worker/train.py) drives: an engine trains K arms, one batch at a time.

Two engines implement `Engine`: `AutogradEngine` here (one arm, any model: CNNs, dropout, batch
norm, bf16, torch.compile) and `StackedEngine` in worker/lockstep.py (K arms of the fully connected
network as one computation). The loop never asks which one it drives: every arm's figures, NaN
check, statistics and resume states come out of the same loop, whatever the engine.

Controlled comparison: a model is built right after seeding (equal initial weights across arms).
Dropout masks come from the arm's own (seeded) global generator: dropout is that arm's treatment.
No host-device synchronization inside a step: the loop reads its running sums once per epoch.
"""

import contextlib
import copy
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from store.spec import TASK
from worker import checkpoint
from worker import data as D
from worker.config import TrainConfig
from worker.kernels import OptimizerStep
from worker.losses import CROSS_ENTROPY, Objective, objective_for
from worker.models import build_model
from worker.regularize import (
    apply_penalties,
    make_optimizer,
    penalty_terms,
    prox_params,
    proximal_l1_step,
)
from worker.stats import histogram_bases

EVAL_BATCH = 4096


class Engine(Protocol):
    k: int  # arms
    objective: Objective  # the loss (worker/losses.py)
    bases: dict[str, float]  # histogram bases, from the arms' (shared) initial weights

    @property
    def lr(self) -> float: ...

    def step(
        self, xb: torch.Tensor, yb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """One optimizer step of every arm on the batch. Returns each arm's data loss (K,), its
        penalty (K,) or None where no arm has one, and the logits (K, B, C), all detached."""

    def evaluate(self, split: D.Split) -> tuple[list[float], list[float]]:
        """Each arm's mean loss and accuracy on the split, in eval mode."""

    def arm_state(self, k: int) -> dict[str, torch.Tensor]:
        """Arm k's weights under the names a lone model of it has (for statistics)."""

    def arm_resume(self, k: int, epoch: int, metrics: dict[str, Any]) -> bytearray:
        """Arm k's resume state, in the one format both engines read, snapshotted."""

    def load_resume(self, states: list[dict[str, Any]]) -> None:
        """Continue from these states (one per arm, all after the same epoch)."""

    def final_models(self) -> list[nn.Module]:
        """Each arm as a lone model, on the device."""


def model_for(cfg: TrainConfig, split: D.Split) -> nn.Module:
    task = TASK.get(cfg.dataset)
    return build_model(
        cfg.model,
        tuple(split.x.shape[1:]),
        task.out_dim if task is not None else D.NUM_CLASSES,
        cfg.hidden,
        cfg.seed,
        depth=cfg.depth,
        dropout=cfg.dropout,
        batchnorm=cfg.batchnorm,
    )


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


@torch.inference_mode()
def evaluate_arms(
    forward: Callable[[torch.Tensor], torch.Tensor], split: D.Split, objective: Objective
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each arm's mean loss and accuracy (K,) over the split, forward giving (K, B, C) outputs.
    Figures measured on the validation outputs belong here: both engines evaluate through it."""
    loss_sum = correct = None
    for i in range(0, len(split), EVAL_BATCH):
        yb = split.y[i : i + EVAL_BATCH]
        out = forward(D.as_float(split.x[i : i + EVAL_BATCH]))
        losses, hits = objective.sums(out, yb).double(), objective.hits(out, yb)
        loss_sum = losses if loss_sum is None else loss_sum + losses
        correct = hits if correct is None else correct + hits
    n = len(split)
    return loss_sum / n, correct.double() / n


def evaluate(
    model: nn.Module, split: D.Split, objective: Objective = CROSS_ENTROPY
) -> tuple[float, float]:
    """One model's mean loss and accuracy in eval mode (no dropout, running BN statistics)."""
    was_training = model.training
    model.eval()
    loss, acc = evaluate_arms(lambda x: model(x).unsqueeze(0), split, objective)
    model.train(was_training)
    return loss.item(), acc.item()


class AutogradEngine:
    """One arm (K = 1) of any model, through autograd."""

    def __init__(
        self,
        cfgs: list[TrainConfig],
        train_split: D.Split,
        device: torch.device,
        compile_model: bool = False,
    ):
        (self.cfg,) = cfgs  # one arm: arms train together only on the stacked engine
        self.k, self.device = 1, device
        self.objective = objective_for(self.cfg)
        self.model = model_for(self.cfg, train_split).to(device)
        self.bases = histogram_bases(self.model.state_dict())  # initial weights, resumed or not
        self.terms = penalty_terms(self.model, self.cfg)
        self.prox = prox_params(self.model, self.cfg)
        self.opt = make_optimizer(self.cfg, self.model)
        self.opt_step = OptimizerStep(self.opt)
        self.forward = compiled(self.model, compile_model)

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step(self, xb, yb):
        with mixed_precision(self.cfg, self.device):
            logits = self.forward(xb).unsqueeze(0)
            data = self.objective.means(logits, yb)
        self.opt.zero_grad(set_to_none=True)
        data.sum().backward()
        pen = apply_penalties(self.terms)  # value and gradient, outside autograd
        self.opt_step()
        if self.prox:
            proximal_l1_step(self.prox, self.lr * self.cfg.prox_l1)
        return data.detach(), None if pen is None else pen.view(1), logits.detach()

    def evaluate(self, split: D.Split) -> tuple[list[float], list[float]]:
        loss, acc = evaluate(self.model, split, self.objective)
        return [loss], [acc]

    def arm_state(self, k: int) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def arm_resume(self, k: int, epoch: int, metrics: dict[str, Any]) -> bytearray:
        """Weights, optimizer and RNG after `epoch`. The batch order and augmentation come from
        (seed, epoch) generators, so with these a resumed run continues exactly as it would
        have."""
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "rng": torch.get_rng_state(),
            "metrics": metrics,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return checkpoint.snapshot(state)

    def load_resume(self, states: list[dict[str, Any]]) -> None:
        (state,) = states
        self.model.load_state_dict(state["model"])
        # A copy: torch adopts same-device tensors as they are, and would update them in place.
        self.opt.load_state_dict(copy.deepcopy(state["optimizer"]))
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def final_models(self) -> list[nn.Module]:
        return [self.model]
