"""Regularization: penalties in the loss, the proximal L1 step, optimizers with weight decay.

Every technique applies to weight matrices (and conv kernels) by default; biases and normalization
parameters only when the arm asks (`penalize_bias`), as the tutorial's LassoLoss/RidgeLoss do.
"""

import torch
import torch.nn.functional as F
from torch import nn

from worker.config import TrainConfig

# (parameters, l1, l2) for one layer; parameters are the weight, plus bias/norm when asked.
Term = tuple[list[torch.Tensor], float, float]


def penalized(model: nn.Module, include_bias: bool = False) -> list[torch.Tensor]:
    """The parameters penalties act on, in model order."""
    params = []
    for _name, weight, extras in model.layer_groups():
        params.append(weight)
        if include_bias:
            params += extras
    return params


def penalty_terms(model: nn.Module, cfg: TrainConfig) -> list[Term]:
    """Per layer, its parameters and lambdas; layers whose lambdas are both zero are left out."""
    groups = model.layer_groups()
    terms = []
    for (_name, weight, extras), (l1, l2) in zip(
        groups, cfg.layer_lambdas(len(groups)), strict=True
    ):
        if l1 or l2:
            terms.append(([weight, *extras] if cfg.penalize_bias else [weight], l1, l2))
    return terms


@torch.no_grad()
def apply_penalties(terms: list[Term]) -> torch.Tensor | None:
    """Add the penalties' gradients to .grad (after backward on the data loss) and return their
    value; None, and nothing touched, when there is no term.

    lambda1 * sign(w) and 2 * lambda2 * w are exactly what autograd would add, without building a
    graph over every weight each step. A zero-lambda arm
    runs exactly Original's computation, so it ends bitwise-equal to it.
    """
    total = None
    for params, l1, l2 in terms:
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            total = _plus(total, add_penalty(p, p.grad, l1, l2))
    return total


def add_penalty(w: torch.Tensor, grad: torch.Tensor, l1: float, l2: float) -> torch.Tensor:
    """One tensor's penalty value; its gradient added to grad in place (under no_grad).

    These passes over the weights run every step: sum(w^2) is one dot product (w.pow(2).sum()
    also writes and reads a squared copy), and no zero tensor seeds the sum. The dot sums in
    float32 in BLAS's order, agreeing with pow(2).sum() to about 1e-6 relative; it is only the
    reported penalty, not a gradient."""
    assert l1 or l2, "a term with both lambdas zero is left out (penalty_terms)"
    value = None
    if l1:
        value = w.abs().sum().mul_(l1)
        grad.add_(torch.sign(w), alpha=l1)
    if l2:
        flat = w.reshape(-1)
        squares = torch.dot(flat, flat).mul_(l2)
        value = squares if value is None else value.add_(squares)
        grad.add_(w, alpha=2 * l2)
    return value


def _plus(total: torch.Tensor | None, term: torch.Tensor) -> torch.Tensor:
    return term if total is None else total + term


def prox_params(model: nn.Module, cfg: TrainConfig) -> list[torch.Tensor]:
    return penalized(model, cfg.penalize_bias) if cfg.prox_l1 else []


@torch.no_grad()
def proximal_l1_step(params: list[torch.Tensor], threshold: float) -> None:
    """w <- sign(w) * max(|w| - threshold, 0): exact zeros, unlike the subgradient of |w|.
    In place, so it may act on one arm's slice of a stacked parameter."""
    for p in params:
        p.copy_(F.softshrink(p, threshold))


@torch.no_grad()
def weight_decay_(w: torch.Tensor, grad: torch.Tensor, wd: float, lr: float, decoupled: bool):
    """torch.optim's weight decay, for a parameter (or one arm's slice of a stacked one) whose
    optimizer runs without decay: the stacked engine's arms each have their own. Decoupled
    (AdamW): the weights shrink by lr * wd before the step; coupled (Adam, SGD): wd * w joins
    the gradient, an L2 penalty of wd / 2. Call before the optimizer steps; the test holds it
    equal to torch.optim's own weight_decay."""
    if decoupled:
        w.mul_(1 - lr * wd)
    else:
        grad.add_(w, alpha=wd)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The arm's optimizer; weight decay only on what penalties would act on (param groups)."""
    if not cfg.weight_decay:  # one group, one fused kernel call per step
        return optimizer_for(cfg, list(model.parameters()))
    decay = penalized(model, cfg.penalize_bias)
    decay_ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in decay_ids]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    return optimizer_for(cfg, groups)


def decoupled_decay(cfg: TrainConfig) -> bool:
    """Whether cfg's optimizer decays weights apart from the gradient (AdamW) or in it."""
    return cfg.optimizer == "adamw"


def optimizer_for(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """cfg's optimizer over params (tensors or param groups); its weight decay comes from the
    param groups (make_optimizer) or, when they have none, 0."""
    # fused: one kernel over all parameters. The step is memory-bound, and the fused kernel
    # reads and writes each state tensor once where the per-tensor loop makes several passes.
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0, fused=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, fused=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
