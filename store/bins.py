"""Histogram bins shared by all arms of an experiment, and how a histogram row is read.

A layer's bins are fixed at the start from the common initial weights: BINS bins over
[-base, base] with base = SPAN x max|w_init|. When training takes a weight past the range, the
range doubles (level k covers +-base * 2**k), so no weight is ever out of range. Doubling merges
pairs of bins exactly, so a histogram can always be coarsened to a higher level: arms whose
weights grew differently still overlay on common edges, without approximation.
"""

BINS = 80  # divisible by 4, so that each doubling merges whole pairs of bins and pads evenly
SPAN = 1.5
MAX_LEVEL = 64


def edges(base: float, level: int) -> list[float]:
    r = base * 2**level
    return [r * (2 * i / BINS - 1) for i in range(BINS + 1)]


def level_for(base: float, max_abs: float) -> int:
    """The smallest level whose range holds max_abs strictly inside (the top edge is exclusive)."""
    level = 0
    while max_abs >= base * 2**level and level < MAX_LEVEL:  # bounded: max_abs may be inf
        level += 1
    return level


def coarsen(counts: list[int], level: int, to_level: int) -> list[int]:
    """Counts of a level-`level` histogram re-binned to the wider level `to_level` (exact)."""
    for _ in range(to_level - level):
        inner = [counts[2 * j] + counts[2 * j + 1] for j in range(BINS // 2)]
        pad = [0] * (BINS // 4)
        counts = pad + inner + pad
    return counts


# ---- fine bins ----
#
# Beside its 80 counts, a histogram keeps the same weights on a finer grid: 80 * 2**f bins over
# the same +-base * 2**level. Bin b of it holds edges r * (2b / (80 * 2**f) - 1) <= w < the next,
# r = base * 2**level; so bin 2**f * i .. 2**f * (i + 1) - 1 are exactly bin i of the 80. Every
# fine grid of an experiment's layer is one of a ladder: its bin width is
# base * 2**(level - f) / 40, so its edges are whole multiples of that width (the "resolution"
# level - f), whatever the level.
# Two grids of any arms or epochs re-bin exactly onto the coarser one's resolution: a bin at
# resolution s holds k * width_s <= w < (k + 1) * width_s, and at s + 1 it is bin floor(k / 2).
#
# f is chosen per histogram so that the weights between its 1st and 99th percentiles span at least
# FINE_MIN_BINS whole bins. A page pools the central 99.9 % of up to MAX_ARMS = 16 arms: each arm
# has at least 98.4 % of its weights inside that range, so the range holds the arm's central 98 %,
# and at the coarsest arm's resolution (the common one) it spans at least FINE_MIN_BINS bins.
# The counts are stored sparsely, as runs of bins ([first bin, count, count, ...]): only the bins
# that hold weights, at most FINE_MAX_NONZERO of them (past that f is lowered: a few heavy-tailed
# weights spread over thousands of fine bins would cost kilobytes, so the grid gets coarser).

FINE_MAX = 10  # 80 * 1024 bins at most
FINE_MIN_BINS = 40
FINE_MAX_NONZERO = 1024
FINE_GAP = 2  # a run ends at this many empty bins in a row (a lone empty bin is cheaper inline)
PERCENTILES = (0, 7, 16, 50, 84, 93, 100)  # the distributions view's bands, as TensorBoard's


def to_runs(counts: list[int]) -> list[list[int]]:
    """Dense counts as runs of bins that hold weights: [[first bin, count, ...], ...]."""
    runs: list[list[int]] = []
    gap = FINE_GAP
    for b, c in enumerate(counts):
        if c:
            if gap >= FINE_GAP:
                runs.append([b])
            elif gap:
                runs[-1].extend([0] * gap)
            runs[-1].append(c)
            gap = 0
        else:
            gap += 1
    return runs


def fine_sparse(level: int, fine: dict, to: int | None = None) -> dict[int, int]:
    """A fine histogram as {k: count} on the ladder, bin k holding k * width <= w < (k + 1) *
    width, at its own resolution (level - f) or, exactly, at a coarser one `to`."""
    f = fine["f"]
    res = level - f
    shift = 0 if to is None else to - res
    if shift < 0:
        raise ValueError(f"resolution {to} is finer than the histogram's {res}")
    offset = (BINS // 2) << f  # bin b of the level's grid is ladder bin b - offset
    out: dict[int, int] = {}
    for run in fine["runs"]:
        start = run[0] - offset
        for i, c in enumerate(run[1:]):
            if c:
                k = (start + i) >> shift  # a floor division, negative k included
                out[k] = out.get(k, 0) + c
    return out


def fine_to_counts(level: int, fine: dict, to_level: int | None = None) -> list[int]:
    """The 80 counts at level `to_level` (default: the histogram's own), re-binned exactly from
    the fine grid: what `coarsen(counts, level, to_level)` gives."""
    to_level = level if to_level is None else to_level
    half = BINS // 2
    counts = [0] * BINS
    for k, c in fine_sparse(level, fine, to_level).items():
        counts[k + half] += c
    return counts


def width(base: float, resolution: int) -> float:
    """The bin width of the ladder's grid at `resolution` (level - f)."""
    return base * 2.0**resolution * 2 / BINS


def sparse_percentiles(
    sparse: dict[int, int], w: float, percents: tuple[int, ...] = PERCENTILES
) -> list[float] | None:
    """Percentiles of the weights in ladder bins of width w, each interpolated linearly inside its
    bin (the weights spread evenly over it): within one bin width of the weights' own. 0 and 100
    are the outer edges of the first and last bins that hold weights. None when empty."""
    keys = sorted(sparse)
    total = sum(sparse.values())
    if not total:
        return None
    out = []
    i, before = 0, 0  # the bin keys[i] and the count below it
    for p in percents:
        target = total * p / 100
        while i < len(keys) - 1 and before + sparse[keys[i]] < target:
            before += sparse[keys[i]]
            i += 1
        c = sparse[keys[i]]
        inside = min(max((target - before) / c, 0.0), 1.0)
        out.append((keys[i] + inside) * w)
    return out


def histogram_sparse(
    level: int, counts: list[int], fine: dict | None
) -> tuple[dict[int, int], int]:
    """A stored histogram at its finest: ({k: count} on the ladder, its resolution)."""
    if fine:
        return fine_sparse(level, fine), level - fine["f"]
    half = BINS // 2
    return {i - half: c for i, c in enumerate(counts) if c}, level
