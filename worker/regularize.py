"""Regularization penalties added to the data loss."""

import torch
from torch import nn


def penalized(model: nn.Module, include_bias: bool = False) -> list[torch.Tensor]:
    """Weight matrices only by default (ndim > 1), as the tutorial's LassoLoss/RidgeLoss do."""
    return [p for p in model.parameters() if include_bias or p.ndim > 1]


def penalty(params: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | None:
    """lambda1 * sum|W| + lambda2 * sum W^2, or None when both lambdas are zero.

    None rather than a zero tensor: a zero-lambda arm then runs exactly Original's computation,
    so it ends bitwise-equal to it.
    """
    terms = []
    if l1:
        terms.append(l1 * sum(p.abs().sum() for p in params))
    if l2:
        terms.append(l2 * sum(p.pow(2).sum() for p in params))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]
