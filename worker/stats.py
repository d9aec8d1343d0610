"""Per-layer weight statistics and histograms.

They take a state dict, not a module, so the very same code runs on a live model each epoch and on
a downloaded checkpoint: a checkpoint reproduces the logged figures exactly.
"""

import math

import torch

from store import bins

NEAR_ZERO = 1e-3


def _float32_bound(x: float) -> float:
    """The float32 t for which, for every float32 v, v < t exactly when v < x: |w| is compared
    in float32, with the same result as against x in float64."""
    t = torch.tensor(x, dtype=torch.float32)
    if t.item() < x:
        t = torch.nextafter(t, torch.tensor(math.inf))
    return t.item()


_NEAR_ZERO_F32 = _float32_bound(NEAR_ZERO)
# A weight's bin, 0 to BINS - 1, fits int8: a quarter of int32's memory to count.
_BIN_DTYPE = torch.int8 if bins.BINS <= 128 else torch.int32
STAT_KEYS = ("mean_abs", "l1", "l2_sq", "zero_frac", "near_zero_frac", "max_abs")


def weight_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Learned parameters (weights and biases), not buffers such as running statistics."""
    return {
        k: v
        for k, v in state.items()
        if v.is_floating_point() and (k.endswith(".weight") or k.endswith(".bias"))
    }


def weight_figures(
    state: dict[str, torch.Tensor], bases: dict[str, float]
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[int, list[int], dict | None]]]:
    """layer_stats and, for the layers in bases, histograms: what each epoch reports.

    Every pass over a weight matrix costs the training thread its memory traffic (these are
    memory-bound), so each figure reads the narrowest copy that gives it exactly: the float32
    weights for |w| (its minimum, maximum, float64 sum and the count below NEAR_ZERO), one float64
    copy for the sum of squares and the histogram's arithmetic."""
    f64 = torch.float64
    rows, kept, hists = [], [], {}
    for name, w in weight_tensors(state).items():
        w = w.detach().flatten()
        if w.dtype in (torch.float16, torch.bfloat16):
            w = w.float()  # exact
        w64 = w.to(f64, copy=True)  # a copy even of float64 weights: the histogram consumes it
        a = w.abs()
        least, most = torch.aminmax(a)  # float32 to float64 is exact: the same figures
        l1 = a.sum(dtype=f64)  # a float64 sum without a float64 copy
        # |w| is read for the last time here: compared in place, its 1s and 0s summed (an exact
        # integer in float32 below 2**24 of them).
        below = a.lt_(_NEAR_ZERO_F32 if a.dtype == torch.float32 else NEAR_ZERO)
        near = below.sum() if w.numel() < 2**24 else below.sum(dtype=f64)
        l2_sq = torch.dot(w64, w64)  # no squared copy
        rows.append(torch.stack([l1, l2_sq, least.to(f64), most.to(f64), near.to(f64)]))
        kept.append((name, w))
        if name in bases:  # now, so that one float64 copy at a time is alive
            hists[name] = _histogram(w64, bases[name], most.item())
    stats: dict[str, dict[str, float]] = {}
    if not rows:
        return stats, hists
    # One device sync for all layers' statistics (each histogram's level, from its max |w|,
    # took one of its own above: the price of keeping one float64 copy alive at a time).
    values = torch.stack(rows).cpu().tolist()
    for (name, w), (l1, l2_sq, least, most, near) in zip(kept, values, strict=True):
        n = w.numel()
        # Exact zeros only where |w| reaches 0 (a proximal L1 step makes them): counting them
        # costs a pass that most layers can skip.
        zeros = n - int(torch.count_nonzero(w)) if least == 0 else 0
        figures = (l1 / n, l1, l2_sq, zeros / n, near / n, most)
        stats[name] = dict(zip(STAT_KEYS, figures, strict=True))
    return stats, hists


def layer_stats(state: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per parameter tensor: mean |w|, L1, squared L2, fraction of exact zeros and of |w| below
    NEAR_ZERO, max |w|. Sums in float64, counts as integers."""
    return weight_figures(state, {})[0]


def histogram_bases(state: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per weight matrix (ndim > 1): the half-range of its level-0 bins, from initial weights."""
    return {
        name: max(bins.SPAN * w.detach().abs().max().item(), 1e-12)
        for name, w in weight_tensors(state).items()
        if w.ndim > 1
    }


def histograms(
    state: dict[str, torch.Tensor], bases: dict[str, float]
) -> dict[str, tuple[int, list[int], dict | None]]:
    """Per layer: (level, counts, fine) on the shared bins (see store.bins)."""
    return weight_figures({name: state[name] for name in bases}, bases)[1]


def _histogram(
    w64: torch.Tensor, base: float, max_abs: float
) -> tuple[int, list[int], dict | None]:
    """The counts of a flat float64 tensor, which it overwrites, and its fine grid (store.bins)."""
    level = bins.level_for(base, max_abs)
    r, half = base * 2**level, bins.BINS // 2
    finite = max_abs < r  # else past the top level, or not finite: no fine grid
    sub = 2**bins.FINE_MAX if finite else 1
    # The bin of each weight, arithmetically (no search over the edges: the bins are uniform):
    # bin i holds edges[i] <= w < edges[i+1], edges[i] = r * (2i / BINS - 1), so it is
    # floor(w * half / r) + half. The floor, not a truncation of w shifted to positive values:
    # shifting first rounds a weight within an ulp below 0 (or an exact 0, for some r) into the
    # wrong bin. On the finest grid (sub bins to each of the 80): scaling by a power of 2 is
    # exact, so floor(w * sub * half / r) // sub is the 80-bin index itself, and summing groups
    # of sub fine bins gives the 80 counts bit for bit. In place, then the narrowest integer
    # that holds the bins.
    idx = w64.mul_(half * sub / r).floor_()
    if not finite:  # the end bins take what is beyond
        idx.clamp_(-half, half - 1)
    dtype = _BIN_DTYPE if sub == 1 else torch.int32
    fine = torch.bincount(idx.to(dtype).add_(half * sub), minlength=bins.BINS * sub).cpu()
    counts = fine.view(bins.BINS, sub).sum(1).tolist()
    return level, counts, (_fine_grid(fine) if finite else None)


def _fine_grid(finest: torch.Tensor) -> dict:
    """{"f", "runs"}: the coarsest of the fine grids on which the weights between the 1st and
    99th percentiles span FINE_MIN_BINS whole bins, coarser still while more than
    FINE_MAX_NONZERO bins hold weights (see store.bins)."""
    cum = finest.cumsum(0)
    n = int(cum[-1])
    lo = int(torch.searchsorted(cum, torch.tensor(n * 0.01, dtype=cum.dtype), right=True))
    hi = int(torch.searchsorted(cum, torch.tensor(n * 0.99, dtype=cum.dtype)))
    # The 1st percentile lies below bin lo's top edge and the 99th at or above bin hi's bottom
    # edge: at least hi - lo - 1 whole finest bins lie between them.
    inside = hi - lo - 1
    g = 0  # the fine grid merges 2**g finest bins
    while g < bins.FINE_MAX and inside >= bins.FINE_MIN_BINS * 2 ** (g + 1):
        g += 1
    grid = finest.view(-1, 2**g).sum(1)
    while g < bins.FINE_MAX and int(torch.count_nonzero(grid)) > bins.FINE_MAX_NONZERO:
        g += 1
        grid = grid.view(-1, 2).sum(1)
    return {"f": bins.FINE_MAX - g, "runs": bins.to_runs(grid.tolist())}
