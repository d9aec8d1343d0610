"""The fine bins' sparse form and the percentiles read from it, on values worked out by hand."""

import pytest

from store import bins


def test_runs_keep_every_count_and_drop_long_gaps():
    counts = [0, 3, 0, 2, 0, 0, 0, 5, 1, 0]
    runs = bins.to_runs(counts)
    assert runs == [[1, 3, 0, 2], [7, 5, 1]]  # a lone empty bin stays inline, three split a run
    f = 0  # 80 bins: the runs index them directly
    dense = [0] * bins.BINS
    for k, c in bins.fine_sparse(0, {"f": f, "runs": runs}).items():
        dense[k + bins.BINS // 2] = c
    assert dense[: len(counts)] == counts and sum(dense) == sum(counts)


def test_a_fine_grid_re_bins_to_the_80_and_to_wider_levels_exactly():
    f, level = 2, 1
    dense = [0] * (bins.BINS << f)
    for b, c in {0: 1, 3: 2, 4: 7, 159: 1, 160: 4, 161: 2, 319: 5}.items():
        dense[b] = c
    fine = {"f": f, "runs": bins.to_runs(dense)}
    counts = [sum(dense[4 * i : 4 * i + 4]) for i in range(bins.BINS)]
    assert bins.fine_to_counts(level, fine) == counts
    for to in (2, 3, 5):
        assert bins.fine_to_counts(level, fine, to) == bins.coarsen(counts, level, to)
    with pytest.raises(ValueError):
        bins.fine_sparse(level, fine, level - f - 1)  # finer than it was counted


def test_negative_bins_floor_to_the_bin_below_zero():
    # Ladder bin -1 holds [-width, 0): merged with bin -2 at the next resolution, never with 0.
    fine = {"f": 1, "runs": [[bins.BINS - 2, 1, 1, 1, 1]]}  # ladder bins -2, -1, 0, 1
    assert bins.fine_sparse(0, fine) == {-2: 1, -1: 1, 0: 1, 1: 1}
    assert bins.fine_sparse(0, fine, 0) == {-1: 2, 0: 2}


def test_percentiles_interpolate_inside_the_bin():
    w = 0.5
    sparse = {-2: 10, 0: 70, 3: 20}  # [-1, -0.5): 10, [0, 0.5): 70, [1.5, 2): 20
    p0, p7, p16, p50, p84, p93, p100 = bins.sparse_percentiles(sparse, w)
    assert p0 == -1.0 and p100 == 2.0
    assert p7 == pytest.approx(-1 + 0.5 * 7 / 10)
    assert p16 == pytest.approx(0.5 * 6 / 70) and p50 == pytest.approx(0.5 * 40 / 70)
    assert p84 == pytest.approx(1.5 + 0.5 * 4 / 20) and p93 == pytest.approx(1.5 + 0.5 * 13 / 20)
    assert bins.sparse_percentiles({}, w) is None


def test_an_old_histogram_without_a_fine_grid_reads_at_its_level():
    counts = [0] * bins.BINS
    counts[39], counts[40] = 2, 3
    assert bins.histogram_sparse(2, counts, None) == ({-1: 2, 0: 3}, 2)
