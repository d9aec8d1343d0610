"""(3) Arms in lockstep against the same arms one by one, in one run: the tutorial's three arms
and a ten-point lambda sweep. Run: python -m bench.lockstep
"""

import dataclasses
import statistics

import torch

from bench.common import DATA, header, timed
from worker.config import TrainConfig
from worker.lockstep import train_lockstep
from worker.train import load_data, train


def compare(label: str, cfgs: list[TrainConfig], data, device) -> None:
    # One by one as a worker trains a lone arm (the same engine, one arm at a time), and with
    # train()'s autograd loop (what CNN, dropout and batch-norm arms use). Three interleaved
    # rounds after a warm-up; medians.
    ways = {
        "seq": lambda: [train_lockstep([c], *data, device) for c in cfgs],
        "autograd": lambda: [train(c, *data, device) for c in cfgs],
        "lock": lambda: train_lockstep(cfgs, *data, device),
    }
    train_lockstep(cfgs[:1], *data, device)
    times = {name: [] for name in ways}
    for _ in range(3):
        for name, way in ways.items():
            times[name].append(timed(way)[0])
    t_seq, t_autograd, t_lock = (statistics.median(times[n]) for n in ways)
    print(
        f"   {label:32s} one by one {t_seq:6.2f} s (autograd loop {t_autograd:6.2f} s)  "
        f"lockstep {t_lock:6.2f} s  speedup {t_seq / t_lock:4.2f}x "
        f"({t_autograd / t_lock:4.2f}x)"
    )


def main() -> None:
    header("lockstep vs one by one")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for batch in (32, 256):
        base = TrainConfig(train_per_class=None, val_per_class=100, epochs=2, batch_size=batch)
        data = load_data(base, DATA, False, device)
        tutorial = [
            dataclasses.replace(base, arm="o"),
            dataclasses.replace(base, arm="l", l1=1e-4),
            dataclasses.replace(base, arm="r", l2=1e-3),
        ]
        sweep = [
            dataclasses.replace(base, arm=f"l2={lam:g}", l2=lam)
            for lam in [0.0] + [10 ** (-6 + 5 * i / 8) for i in range(9)]
        ]
        compare(f"3 tutorial arms, batch {batch}", tutorial, data, device)
        compare(f"10-point L2 sweep, batch {batch}", sweep, data, device)


if __name__ == "__main__":
    main()
