"""(2) reglab at batch 256 as a fraction of the matrix-multiply bound, both measured in this run.

The bound: training one image of the 784-500-10 network costs about 6 x 397,510 FLOP (forward,
and backward for weights and activations), so at the machine's measured sgemm rate it can train at
most rate / (6 x 397,510) images per second. Run: python bench/matmul_bound.py
"""

import torch

from bench.common import DATA, header, timed
from worker.config import TrainConfig
from worker.train import load_data, train

PARAMS = 784 * 500 + 500 + 500 * 10


def sgemm_rate(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t, _ = timed(lambda: [a @ b for _ in range(reps)])
    return 2 * n**3 * reps / t


def main() -> None:
    header("reglab at batch 256 vs the matrix-multiply bound")
    rate = sgemm_rate()
    bound = rate / (6 * PARAMS)
    cfg = TrainConfig(train_per_class=None, val_per_class=10, epochs=4, batch_size=256)
    device = torch.device("cpu")
    data = load_data(cfg, DATA, False, device)
    reports = []
    train(cfg, *data, device, report=reports.append)
    best = max(r.metrics["samples_per_s"] for r in reports[1:])  # epoch 1 warms up
    print(f"   sgemm {rate / 1e9:6.1f} GFLOP/s -> bound {bound:8,.0f} img/s")
    print(f"   reglab batch 256: {best:8,.0f} img/s = {best / bound:.2f} of the bound")


if __name__ == "__main__":
    main()
