"""Per-layer weight statistics and histograms.

They take a state dict, not a module, so the very same code runs on a live model each epoch and on
a downloaded checkpoint: a checkpoint reproduces the logged figures exactly.
"""

import torch

from app.db import bins

NEAR_ZERO = 1e-3
STAT_KEYS = ("mean_abs", "l1", "l2_sq", "zero_frac", "near_zero_frac", "max_abs")


def weight_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Learned parameters (weights and biases), not buffers such as running statistics."""
    return {
        k: v
        for k, v in state.items()
        if v.is_floating_point() and (k.endswith(".weight") or k.endswith(".bias"))
    }


def layer_stats(state: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    names, rows = [], []
    f64 = torch.float64
    for name, w in weight_tensors(state).items():
        a = w.detach().abs().flatten()  # in the weights' dtype; sums accumulate in float64
        n = a.numel()
        stats = [
            a.sum(dtype=f64) / n,
            a.sum(dtype=f64),
            a.square().sum(dtype=f64),
            (a == 0).sum(dtype=f64) / n,
            (a < NEAR_ZERO).sum(dtype=f64) / n,
            a.max().to(f64),
        ]
        rows.append(torch.stack(stats))
        names.append(name)
    if not rows:
        return {}
    values = torch.stack(rows).cpu().tolist()  # one device sync for all layers
    return {n: dict(zip(STAT_KEYS, v, strict=True)) for n, v in zip(names, values, strict=True)}


def histogram_bases(state: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per weight matrix (ndim > 1): the half-range of its level-0 bins, from initial weights."""
    return {
        name: max(bins.SPAN * w.detach().abs().max().item(), 1e-12)
        for name, w in weight_tensors(state).items()
        if w.ndim > 1
    }


def histograms(
    state: dict[str, torch.Tensor], bases: dict[str, float]
) -> dict[str, tuple[int, list[int]]]:
    """Per layer: (level, counts) on the shared bins (see app.db.bins)."""
    out = {}
    for name, base in bases.items():
        w = state[name].detach().flatten()
        level = bins.level_for(base, w.abs().max().item())
        r = base * 2**level
        # The bin of each weight, arithmetically (a binary search over the edges costs 3x more):
        # bin i holds edges[i] <= w < edges[i+1], edges[i] = r * (2i / BINS - 1).
        idx = ((w.to(torch.float64) + r) * (bins.BINS / (2 * r))).floor_().long()
        counts = torch.bincount(idx.clamp_(0, bins.BINS - 1), minlength=bins.BINS)
        out[name] = (level, counts.cpu().tolist())
    return out
