"""The fine histogram grid's cost: bytes stored per arm-epoch (counts alone vs counts and the fine
grid, as JSON) and the training thread's time to count them (the 80 bins alone vs with the fine
grid), side by side in one run, on the tutorial's arms and a proximal L1 arm trained on the real
MNIST subset. Also the fewest fine bins between any arm-epoch's 1st and 99th percentiles.

python -m bench.fine_bins [epochs]"""

import dataclasses
import json
import sys
import time

import torch

from bench.common import DATA, header
from store import bins
from worker import stats
from worker.config import TrainConfig
from worker.train import load_data, train


def compact(x) -> int:
    return len(json.dumps(x, separators=(",", ":")))


def counts_only(w64: torch.Tensor, base: float, max_abs: float) -> list[int]:
    """The 80 bins as counted before the fine grid (int8 indices, 80 bins)."""
    level = bins.level_for(base, max_abs)
    idx = w64.mul_(bins.BINS // 2 / (base * 2**level)).floor_()
    return torch.bincount(idx.to(torch.int8).add_(bins.BINS // 2), minlength=bins.BINS).tolist()


def best_ms(fn, rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    header(f"fine histogram grid: 4 arms x {epochs} epochs")
    base = TrainConfig(train_per_class=200, val_per_class=50, epochs=epochs)
    cfgs = [
        dataclasses.replace(base, arm="original"),
        dataclasses.replace(base, arm="lasso", l1=1e-3),
        dataclasses.replace(base, arm="ridge", l2=1e-2),
        dataclasses.replace(base, arm="proximal", prox_l1=1e-1),
    ]
    data = load_data(base, DATA, False, torch.device("cpu"))
    states, bases = {}, {}

    def keep(reports):
        for cfg, r in zip(cfgs, reports, strict=True):
            states[(cfg.arm, r.epoch)] = r.histograms

    train(
        cfgs,
        *data,
        torch.device("cpu"),
        report=keep,
        on_start=lambda b, _: bases.update(b),
        stacked=True,
    )
    before = after = fewest = 0
    for hists in states.values():
        for level, counts, fine in hists.values():
            before += compact({"level": level, "counts": counts})
            after += compact({"level": level, "counts": counts, "fine": fine})
            sparse, _ = bins.histogram_sparse(level, counts, fine)
            p = bins.sparse_percentiles(sparse, 1.0, (1, 99))  # in bins of its own grid
            f = (p[1] - p[0]) if p else 0
            fewest = f if not fewest else min(fewest, f)
    n = len(states)
    print(
        f"   stored per arm-epoch: counts {before / n / 1024:.2f} KiB, counts and fine grid "
        f"{after / n / 1024:.2f} KiB (x{after / before:.2f})"
    )
    print(
        f"   fewest fine bins between the 1st and 99th percentiles: {fewest:.0f} "
        f"(target >= {bins.FINE_MIN_BINS})"
    )
    w = torch.randn(784 * 100) * 0.03
    layer_base, top = bins.SPAN * 0.04, w.abs().max().item()
    old = best_ms(lambda: counts_only(w.double(), layer_base, top))
    new = best_ms(lambda: stats._histogram(w.double(), layer_base, top))
    print(
        f"   counting one 784x100 layer: 80 bins {old:.2f} ms, with the fine grid {new:.2f} ms "
        f"(x{new / old:.2f})"
    )


if __name__ == "__main__":
    main()
