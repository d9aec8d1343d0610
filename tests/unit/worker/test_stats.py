"""Weight statistics and histograms against values worked out by hand."""

import pytest
import torch

from store import bins
from worker.stats import NEAR_ZERO, _float32_bound, histograms, layer_stats, weight_figures


def test_layer_stats_of_a_known_tensor():
    w = torch.tensor([[0.0, -2.0, 0.0005], [4.0, 0.0, -0.5]])
    stats = layer_stats({"linear_1.weight": w, "bn_1.running_mean": torch.ones(3)})
    assert set(stats) == {"linear_1.weight"}  # buffers are not learned weights
    s = stats["linear_1.weight"]
    assert s["l1"] == pytest.approx(6.5005)
    assert s["mean_abs"] == pytest.approx(6.5005 / 6)
    assert s["l2_sq"] == pytest.approx(4 + 0.0005**2 + 16 + 0.25)
    assert s["zero_frac"] == 2 / 6
    assert s["near_zero_frac"] == 3 / 6  # the zeros and 0.0005
    assert s["max_abs"] == 4.0


def test_histogram_puts_each_weight_in_its_documented_bin():
    base = 1.0  # level 0 covers [-1, 1) in 80 bins of 0.025
    w = torch.tensor([-0.9999, -0.975, -0.025, 0.0, 0.0249, 0.025, 0.9999, 0.5])
    ((name, (level, counts, _)),) = histograms(
        {"linear_1.weight": w}, {"linear_1.weight": base}
    ).items()
    assert level == 0 and sum(counts) == len(w)
    edges = bins.edges(base, level)
    expected = [0] * bins.BINS
    for v in w.tolist():
        expected[max(i for i in range(bins.BINS) if edges[i] <= v)] += 1
    assert counts == expected
    # A weight past the range widens it by doubling; nothing is left out.
    level, counts, _ = histograms({"linear_1.weight": torch.tensor([3.0, -0.1])}, {name: base})[
        name
    ]
    assert level == 2 and sum(counts) == 2


def test_weights_at_zero_land_on_their_own_side_of_it():
    # For this base, shifting the weights by the range before scaling them (as reglab once did)
    # rounded an exact 0 down into the bin below it: a proximal L1 arm's zeros all showed as
    # small negative weights. A weight a hair below 0 belongs in that bin all the same.
    base = 0.5257290334370137
    w = torch.tensor([0.0, 0.0, 1e-30, -1e-30])
    level, counts, _ = histograms({"linear_1.weight": w}, {"linear_1.weight": base})[
        "linear_1.weight"
    ]
    edges = bins.edges(base, level)
    assert edges[bins.BINS // 2] == 0.0
    assert counts[bins.BINS // 2] == 3 and counts[bins.BINS // 2 - 1] == 1 and sum(counts) == 4


def test_the_float32_bound_compares_float32_values_as_the_float64_threshold_does():
    for x in (NEAR_ZERO, 0.7, 0.5):  # float32 rounds 1e-3 up, 0.7 down, holds 0.5 exactly
        bound = _float32_bound(x)
        assert torch.tensor(bound, dtype=torch.float32).item() == bound
        near = torch.tensor(x, dtype=torch.float32)
        for v in (torch.nextafter(near, torch.tensor(0.0)), near, torch.nextafter(near, 2 * near)):
            assert (v < bound).item() == (v.item() < x)


def test_near_zero_counts_the_weights_below_the_threshold_in_any_precision():
    for dtype in (torch.float32, torch.float64):
        at = torch.tensor(NEAR_ZERO, dtype=dtype)
        below = torch.nextafter(at, torch.tensor(0.0, dtype=dtype))
        w = torch.stack([below, at, -below, -at, at.new_tensor(0.5), torch.nextafter(at, 2 * at)])
        expected = sum(abs(v) < NEAR_ZERO for v in w.tolist())  # exact: in float64
        assert expected == 2
        kept = w.clone()
        stats, hists = weight_figures({"linear_1.weight": w}, {"linear_1.weight": 1.0})
        assert stats["linear_1.weight"]["near_zero_frac"] == expected / 6
        assert stats["linear_1.weight"]["zero_frac"] == 0.0
        assert sum(hists["linear_1.weight"][1]) == 6
        assert torch.equal(w, kept)  # the figures never write to the weights


def _arms():
    """An Original-like arm (+-0.035) and an L1-like one (most weights within +-0.002, a few
    survivors far out, some exact zeros), on the bins of the same initial weights."""
    g = torch.Generator().manual_seed(0)
    original = torch.randn(784 * 64, generator=g) * 0.012
    l1 = torch.randn(784 * 64, generator=g) * 0.0006
    l1[:300] = torch.randn(300, generator=g) * 0.3  # survivors: a wider level than the original's
    l1[300:5000] = 0.0
    base = bins.SPAN * 0.04
    name = "linear_1.weight"
    hists = [histograms({name: w}, {name: base})[name] for w in (original, l1)]
    return base, [original, l1], hists


def test_the_fine_grid_coarsens_exactly_to_the_80_bins_and_across_arms():
    base, _, hists = _arms()
    (lo_level, _, _), (hi_level, hi_counts, _) = hists
    assert hi_level > lo_level  # the arms sit on different levels
    for level, counts, fine in hists:
        assert fine is not None and fine["f"] > 0
        assert bins.fine_to_counts(level, fine) == counts
        for to in range(level, level + 3):
            assert bins.fine_to_counts(level, fine, to) == bins.coarsen(counts, level, to)
    # On the coarser arm's fine resolution, both arms re-bin exactly onto the same edges.
    common = max(level - fine["f"] for level, _, fine in hists)
    for level, counts, fine in hists:
        sparse = bins.fine_sparse(level, fine, common)
        assert sum(sparse.values()) == sum(counts)
        assert bins.fine_to_counts(level, fine, hi_level) == bins.coarsen(counts, level, hi_level)
    assert bins.fine_to_counts(hi_level, hists[1][2], hi_level) == hi_counts


def test_forty_bins_cover_the_central_999_of_an_l1_and_an_original_arm_together():
    base, weights, hists = _arms()
    common = max(level - fine["f"] for level, _, fine in hists)
    width = bins.width(base, common)
    pooled = torch.cat(weights).double()
    lo, hi = torch.quantile(pooled, torch.tensor([0.0005, 0.9995], dtype=torch.float64)).tolist()
    assert (hi - lo) / width >= bins.FINE_MIN_BINS
    # The L1 arm alone (its central 99.9 % within about +-0.002) gets 40 bins too, on its own grid.
    level, _, fine = hists[1]
    lo, hi = torch.quantile(weights[1].double(), torch.tensor([0.0005, 0.9995]).double()).tolist()
    assert (hi - lo) / bins.width(base, level - fine["f"]) >= bins.FINE_MIN_BINS
    # and stays a few KiB: at most FINE_MAX_NONZERO bins hold weights.
    for _, _, fine in hists:
        assert sum(len(r) - 1 for r in fine["runs"]) <= bins.FINE_MAX_NONZERO + 2 * len(
            fine["runs"]
        )
