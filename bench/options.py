"""The speed options side by side in one run, one arm of the tutorial's network: the default
engine (hand-written backward), train()'s autograd loop, REGLAB_COMPILE (torch.compile) and an
experiment's bf16 mixed precision. On CUDA this is where compile and bf16 should pay off; on a CPU
without bfloat16 arithmetic they do not. Run: python -m bench.options
"""

import dataclasses
import statistics
import time

import torch

from bench.common import DATA, header
from worker.config import TrainConfig
from worker.train import load_data, pick_device, train

EPOCHS = 6


def speeds(run) -> list[float]:
    """Images per second of each epoch after the first (which warms up, and compiles)."""
    out = []
    run(lambda report: out.append(report.metrics["samples_per_s"]))
    return out[1:]


def compare(batch: int, device: torch.device) -> None:
    cfg = TrainConfig(train_per_class=None, val_per_class=10, epochs=EPOCHS, batch_size=batch)
    data = load_data(cfg, DATA, False, device)

    def engine(c, compile_model=False):
        return lambda rep: train(
            [c],
            *data,
            device,
            report=lambda r: rep(r[0]),
            compile_model=compile_model,
            stacked=True,
        )

    options = {
        "engine (default)": engine(cfg),
        "autograd loop": lambda rep: train([cfg], *data, device, report=lambda r: rep(r[0])),
        "engine + compile": engine(cfg, compile_model=True),
        "bf16 autocast": engine(dataclasses.replace(cfg, precision="bf16")),
    }
    results = {name: [] for name in options}
    t0 = time.perf_counter()
    for _ in range(2):  # interleaved against drift
        for name, run in options.items():
            results[name] += speeds(run)
    base = statistics.median(results["engine (default)"])
    print(f"   batch {batch} ({time.perf_counter() - t0:.0f} s)")
    for name, values in results.items():
        v = statistics.median(values)
        print(f"     {name:18s} {v:8,.0f} img/s   {v / base:4.2f}x the default")


def main() -> None:
    header("speed options, one arm")
    device = pick_device()
    for batch in (32, 256):
        compare(batch, device)


if __name__ == "__main__":
    main()
