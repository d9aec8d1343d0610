"""Weight statistics and histograms against values worked out by hand."""

import pytest
import torch

from app.db import bins
from worker.stats import histograms, layer_stats


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
    ((name, (level, counts)),) = histograms(
        {"linear_1.weight": w}, {"linear_1.weight": base}
    ).items()
    assert level == 0 and sum(counts) == len(w)
    edges = bins.edges(base, level)
    expected = [0] * bins.BINS
    for v in w.tolist():
        expected[max(i for i in range(bins.BINS) if edges[i] <= v)] += 1
    assert counts == expected
    # A weight past the range widens it by doubling; nothing is left out.
    level, counts = histograms({"linear_1.weight": torch.tensor([3.0, -0.1])}, {name: base})[name]
    assert level == 2 and sum(counts) == 2
