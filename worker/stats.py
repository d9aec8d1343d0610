"""Per-layer weight statistics and histograms.

They take a state dict, not a module, so the very same code runs on a live model each epoch and on
a downloaded checkpoint: a checkpoint reproduces the logged figures exactly.
"""

import torch

NEAR_ZERO = 1e-3
HIST_BINS = 60
HIST_SPAN = 1.5  # edges cover +-1.5 x the largest initial |w|; the rest goes to under/overflow


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
        rows.append(
            torch.stack(
                [
                    a.mean(),
                    a.sum(),
                    a.pow(2).sum(),
                    (a == 0).to(torch.float64).mean(),
                    (a < NEAR_ZERO).to(torch.float64).mean(),
                    a.max(),
                ]
            )
        )
        names.append(name)
    if not rows:
        return {}
    values = torch.stack(rows).cpu().tolist()  # one device sync for all layers
    keys = ("mean_abs", "l1", "l2_sq", "zero_frac", "near_zero_frac", "max_abs")
    return {
        name: dict(zip(keys, vals, strict=True)) for name, vals in zip(names, values, strict=True)
    }


def histogram_edges(
    state: dict[str, torch.Tensor], bins: int = HIST_BINS
) -> dict[str, list[float]]:
    """Fixed edges per weight matrix from the initial weights, shared by all arms (same init)."""
    edges = {}
    for name, w in weight_tensors(state).items():
        if w.ndim < 2:
            continue
        lim = HIST_SPAN * w.detach().abs().max().item()
        edges[name] = torch.linspace(-lim, lim, bins + 1, dtype=torch.float64).tolist()
    return edges


def histograms(
    state: dict[str, torch.Tensor], edges: dict[str, list[float]]
) -> dict[str, tuple[list[int], int, int]]:
    """Per layer: (counts per bin, count below the first edge, count at or above the last edge)."""
    out = {}
    for name, e in edges.items():
        w = state[name].detach().flatten().to(torch.float64)
        boundaries = torch.tensor(e, dtype=torch.float64, device=w.device)
        # right=True: bin i holds edges[i-1] <= w < edges[i]; 0 is underflow, len(e) overflow.
        idx = torch.bucketize(w, boundaries, right=True)
        counts = torch.bincount(idx, minlength=len(e) + 1).cpu().tolist()
        out[name] = (counts[1 : len(e)], counts[0], counts[len(e)])
    return out
