"""Per-layer weight statistics and histograms.

They take a state dict, not a module, so the very same code runs on a live model each epoch and on
a downloaded checkpoint: a checkpoint reproduces the logged figures exactly.
"""

import ctypes
import math
import sys
from dataclasses import dataclass

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
    state: dict[str, torch.Tensor],
    bases: dict[str, float],
    initial: dict[str, "Initial"] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[int, list[int], dict | None]]]:
    """layer_stats and, for the layers in bases, histograms: what each epoch reports. For the
    layers in initial (initial_weights: the arm's weights before training), also "shrink",
    ||w - w0|| / ||w0||, and "sign_flip_frac", the fraction of weights of the opposite sign to
    their initial one (w * w0 < 0: a weight at exactly 0 has no sign, and zero_frac counts it).

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
        row = [l1, l2_sq, least.to(f64), most.to(f64), near.to(f64)]
        if initial is not None and name in initial:
            row += _from_initial(w, w64, initial[name])
        rows.append(torch.stack(row + [l1.new_zeros(())] * (7 - len(row))))
        kept.append((name, w))
        if name in bases:  # now, so that one float64 copy at a time is alive
            hists[name] = _histogram(w64, bases[name], most.item())
    stats: dict[str, dict[str, float]] = {}
    if not rows:
        return stats, hists
    # One device sync for all layers' statistics (each histogram's level, from its max |w|,
    # took one of its own above: the price of keeping one float64 copy alive at a time).
    values = torch.stack(rows).cpu().tolist()
    for (name, w), (l1, l2_sq, least, most, near, moved, flips) in zip(kept, values, strict=True):
        n = w.numel()
        # Exact zeros only where |w| reaches 0 (a proximal L1 step makes them): counting them
        # costs a pass that most layers can skip.
        zeros = n - int(torch.count_nonzero(w)) if least == 0 else 0
        figures = (l1 / n, l1, l2_sq, zeros / n, near / n, most)
        stats[name] = dict(zip(STAT_KEYS, figures, strict=True))
        if initial is not None and name in initial:
            stats[name].update(_against_initial(initial[name], n, l2_sq, zeros, moved, flips))
    return stats, hists


@dataclass(frozen=True)
class Initial:
    """A weight matrix before training, as weight_figures compares with it: flat float64 copy,
    the signs (float32, +-1 or 0) and the squared L2 norm."""

    w0: torch.Tensor
    sign: torch.Tensor
    norm_sq: float
    has_zero: bool  # a weight exactly 0 at the start: sign flips are counted directly


def initial_weights(state: dict[str, torch.Tensor]) -> dict[str, Initial]:
    """Per weight matrix (ndim > 1), what weight_figures measures shrink and sign flips against.
    Taken once per arm, on the device the arm trains on, from the weights the seed built."""
    out = {}
    for name, w in weight_tensors(state).items():
        if w.ndim > 1:
            w0 = w.detach().flatten().double().clone()
            has_zero = bool((w0 == 0).any())
            out[name] = Initial(w0, w0.sign().float(), torch.dot(w0, w0).item(), has_zero)
    return out


def _from_initial(w: torch.Tensor, w64: torch.Tensor, init: Initial) -> list[torch.Tensor]:
    """Two passes, one temporary: w . w0 (float64) and sign(w) . sign(w0), which with the count
    of zeros gives the opposite signs (or their count, if w0 has zeros). Not w - w0: that costs
    two more temporaries, and ||w - w0||^2 = ||w||^2 - 2 w.w0 + ||w0||^2 in float64 keeps
    ~1e-16 ||w0||^2 of absolute error, far below any shrink worth printing."""
    signs = w.sign().float()
    if init.has_zero:
        return [torch.dot(w64, init.w0), (signs * init.sign).lt_(0).sum().double()]
    # Below 2**24 weights a float32 sum of +-1s is exact.
    agree = (
        torch.dot(signs, init.sign)
        if w.numel() < 2**24
        else torch.dot(signs.double(), init.sign.double())
    )
    return [torch.dot(w64, init.w0), agree.double()]


def _against_initial(
    init: Initial, n: int, l2_sq: float, zeros: int, cross: float, signs: float
) -> dict[str, float]:
    """shrink = ||w - w0|| / ||w0|| and the fraction of weights of the opposite sign to w0's (a
    weight at 0 has none): with w0 free of zeros, agreeing minus opposite signs is `signs` and
    agreeing plus opposite is n - zeros."""
    moved = max(l2_sq - 2 * cross + init.norm_sq, 0.0)
    flips = signs if init.has_zero else (n - zeros - signs) / 2
    return {
        "shrink": math.sqrt(moved / init.norm_sq) if init.norm_sq > 0 else 0.0,
        "sign_flip_frac": flips / n,
    }


def layer_stats(
    state: dict[str, torch.Tensor], initial: dict[str, Initial] | None = None
) -> dict[str, dict[str, float]]:
    """Per parameter tensor: mean |w|, L1, squared L2, fraction of exact zeros and of |w| below
    NEAR_ZERO, max |w|; with initial (initial_weights), shrink and sign flips. Sums in float64,
    counts as integers."""
    return weight_figures(state, {}, initial)[0]


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


# Weight images: what one arm-epoch stores may take at most IMAGE_BUDGET bytes. Tiles
# are float16 (relative rounding 2**-11: within 1e-3 x max |w|), the importance map float32.
IMAGE_BUDGET = 64 * 1024
MAX_TILES = 16


@dataclass(frozen=True)
class WeightImages:
    """The incoming weights of some first-layer units, drawn as images, and the importance map.

    layer: the weight matrix ("linear_1.weight", or "conv_1.weight" for the CNN: its filters);
    image_shape: [C, H, W] of one tile; units: the rows shown; tiles: those rows as little-endian
    float16, one after another; importance: per input, the sum over ALL units of |w[unit, input]|
    (the matrix's column-wise L1 norm) as little-endian float32."""

    layer: str
    image_shape: list[int]
    units: list[int]
    tiles: bytes
    importance: bytes

    @property
    def nbytes(self) -> int:
        return len(self.tiles) + len(self.importance)


def tile_units(n_units: int, inputs: int) -> list[int]:
    """The units shown: evenly spaced over the layer, the same for every arm, at most MAX_TILES
    and as many as fit IMAGE_BUDGET beside the importance map (CIFAR-10's 3x32x32 inputs: 8)."""
    fit = (IMAGE_BUDGET - 4 * inputs) // (2 * inputs)
    count = max(1, min(MAX_TILES, n_units, fit))
    return [i * n_units // count for i in range(count)]


def image_layer(state: dict[str, torch.Tensor], image_shape: tuple[int, ...]) -> str | None:
    """The weight matrix whose rows are images: the first convolution, else a first linear layer
    that reads the whole image; None for other models or inputs."""
    if "conv_1.weight" in state:
        return "conv_1.weight"
    w = state.get("linear_1.weight")
    if len(image_shape) == 3 and w is not None and w.shape[1] == math.prod(image_shape):
        return "linear_1.weight"
    return None


def weight_images(
    state: dict[str, torch.Tensor], image_shape: tuple[int, ...]
) -> WeightImages | None:
    """The tiles and importance map of the first layer, computed on the weights' device; the
    checkpoint of the same epoch reproduces them (its rows, its column-wise L1 norm)."""
    layer = image_layer(state, image_shape)
    if layer is None:
        return None
    w = state[layer].detach()
    shape = list(w.shape[1:]) if w.ndim == 4 else list(image_shape)
    w = w.flatten(1)
    units = tile_units(w.shape[0], w.shape[1])
    idx = torch.tensor(units, device=w.device)
    tiles = w.index_select(0, idx).to(torch.float16)
    importance = w.float().abs().sum(0)
    return WeightImages(layer, shape, units, _le_bytes(tiles), _le_bytes(importance))


def _le_bytes(t: torch.Tensor) -> bytes:
    """A tensor's values as little-endian bytes (the store reads them with struct '<')."""
    assert sys.byteorder == "little"  # torch keeps native order; every platform it runs on
    t = t.cpu().contiguous()
    # One copy of the memory (bytes(storage) would go through it byte by byte, in Python).
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())
