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
