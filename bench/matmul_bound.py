"""(2) reglab at batch 256 as a fraction of the matrix-multiply bound, both measured in this run.

The bound: training one image of the 784-500-10 network costs about 6 x 397,510 FLOP (forward,
and backward for weights and activations), so at the machine's measured sgemm rate it can train at
most rate / (6 x 397,510) images per second.

This machine's speed drifts (sgemm from about 100 to 210 GFLOP/s within minutes), so one sgemm
figure taken before training says little about the epochs after it. The sgemm rate is measured
between every two epochs instead, and each epoch is held against the mean of the rates measured
just before and just after it. Run: python -m bench.matmul_bound
"""

import statistics

import torch

from bench.common import DATA, header, timed
from worker.config import TrainConfig
from worker.train import load_data, train

PARAMS = 784 * 500 + 500 + 500 * 10
EPOCHS = 16


def sgemm_rate(n: int = 2048, reps: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t, _ = timed(lambda: [a @ b for _ in range(reps)])
    return 2 * n**3 * reps / t


def main() -> None:
    header("reglab at batch 256 vs the matrix-multiply bound")
    cfg = TrainConfig(train_per_class=None, val_per_class=10, epochs=EPOCHS, batch_size=256)
    device = torch.device("cpu")
    data = load_data(cfg, DATA, False, device)
    rates, speeds = [sgemm_rate()], []

    def between_epochs(report) -> None:
        speeds.append(report.metrics["samples_per_s"])
        rates.append(sgemm_rate())

    train(cfg, *data, device, report=between_epochs)
    fractions = [
        speed / ((before + after) / 2 / (6 * PARAMS))
        for speed, before, after in zip(speeds, rates, rates[1:], strict=False)
    ][1:]  # epoch 1 warms up
    rate = statistics.median(rates)
    print(
        f"   sgemm {min(rates) / 1e9:.0f}-{max(rates) / 1e9:.0f} GFLOP/s over the run "
        f"(median {rate / 1e9:.0f}) -> bound {rate / (6 * PARAMS):,.0f} img/s at the median"
    )
    print(f"   reglab batch 256: median {statistics.median(speeds[1:]):,.0f} img/s")
    print(
        f"   fraction of the bound, per epoch against the sgemm rate around it: median "
        f"{statistics.median(fractions):.2f} (range {min(fractions):.2f}-{max(fractions):.2f})"
    )


if __name__ == "__main__":
    main()
