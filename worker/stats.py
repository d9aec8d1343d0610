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
    for name, w in weight_tensors(state).items():
        a = w.detach().abs().flatten().to(torch.float64)
        stats = [
            a.mean(),
            a.sum(),
            a.pow(2).sum(),
            (a == 0).to(torch.float64).mean(),
            (a < NEAR_ZERO).to(torch.float64).mean(),
            a.max(),
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
        w = state[name].detach().flatten().to(torch.float64)
        level = bins.level_for(base, w.abs().max().item())
        boundaries = torch.tensor(bins.edges(base, level), dtype=torch.float64, device=w.device)
        # right=True: index i holds edges[i-1] <= w < edges[i]; the level keeps 0 < i < len(edges).
        idx = torch.bucketize(w, boundaries, right=True)
        counts = torch.bincount(idx, minlength=bins.BINS + 2).cpu().tolist()
        out[name] = (level, counts[1 : bins.BINS + 1])
    return out
