"""(2) reglab at batch 256 as a fraction of the matrix-multiply bound, both measured in this run.

The bound: training one image of the 784-500-10 network costs about 6 x 397,510 FLOP (forward,
and backward for weights and activations), so at the machine's measured sgemm rate it can train at
most rate / (6 x 397,510) images per second. For reference, a plain PyTorch loop over a preloaded
float tensor (the issue's "69,000 of 100,000 images/s") is measured the same way.

This machine's speed drifts (sgemm from about 100 to 210 GFLOP/s within minutes), so one sgemm
figure taken before training says little about the epochs after it. The sgemm rate is measured
between every two epochs instead, and each epoch is held against the mean of the rates measured
just before and just after it. Run: python -m bench.matmul_bound
"""

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from bench.common import DATA, header, timed
from worker.config import TrainConfig
from worker.train import epoch_order, load_data, train

PARAMS = 784 * 500 + 500 + 500 * 10
EPOCHS = 16
BATCH = 256


def sgemm_rate(n: int = 2048, reps: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t, _ = timed(lambda: [a @ b for _ in range(reps)])
    return 2 * n**3 * reps / t


def plain_loop(x: torch.Tensor, y: torch.Tensor):
    """The textbook loop: a preloaded float tensor, slices of a permutation, autograd, Adam."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 10, bias=False))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch = 0

    def one_epoch() -> float:
        nonlocal epoch
        epoch += 1
        t0 = time.perf_counter()
        order = epoch_order(len(y), 0, epoch)
        for i in range(0, len(y), BATCH):
            idx = order[i : i + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return len(y) / (time.perf_counter() - t0)

    return one_epoch


def fractions(events: list[tuple[str, float]], who: str) -> tuple[list[float], list[float]]:
    """(speeds, fractions of the bound) of who's epochs, each held against the mean of the sgemm
    rates measured just before and just after it; the first epoch warms up."""
    speeds, out = [], []
    for i, (kind, speed) in enumerate(events):
        if kind != who:
            continue
        before = next(r for k, r in reversed(events[:i]) if k == "sgemm")
        after = next(r for k, r in events[i + 1 :] if k == "sgemm")
        speeds.append(speed)
        out.append(speed / ((before + after) / 2 / (6 * PARAMS)))
    return speeds[1:], out[1:]


def main() -> None:
    header(f"batch {BATCH} vs the matrix-multiply bound")
    cfg = TrainConfig(train_per_class=None, val_per_class=10, epochs=EPOCHS, batch_size=BATCH)
    device = torch.device("cpu")
    data = load_data(cfg, DATA, False, device)
    plain = plain_loop(data[0].x.flatten(1).float() / 255, data[0].y)
    events = [("sgemm", sgemm_rate())]  # in time order: sgemm, reglab, sgemm, plain, sgemm, ...

    def between_epochs(reports) -> None:
        events.append(("reglab", reports[0].metrics["samples_per_s"]))
        events.append(("sgemm", sgemm_rate()))
        events.append(("plain", plain()))
        events.append(("sgemm", sgemm_rate()))

    # One arm, as a worker trains it: the stacked engine with its hand-written backward.
    train([cfg], *data, device, report=between_epochs, stacked=True)
    rates = [r for k, r in events if k == "sgemm"]
    rate = statistics.median(rates)
    print(
        f"   sgemm {min(rates) / 1e9:.0f}-{max(rates) / 1e9:.0f} GFLOP/s over the run "
        f"(median {rate / 1e9:.0f}) -> bound {rate / (6 * PARAMS):,.0f} img/s at the median"
    )
    for who, label in (("reglab", "reglab"), ("plain", "plain PyTorch loop")):
        speeds, f = fractions(events, who)
        print(
            f"   {label:18s} median {statistics.median(speeds):7,.0f} img/s = "
            f"{statistics.median(f):.2f} of the bound (per epoch {min(f):.2f}-{max(f):.2f})"
        )


if __name__ == "__main__":
    main()
