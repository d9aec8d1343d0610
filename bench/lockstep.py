"""(3) Arms in lockstep against the same arms one by one, in one run.

One by one is how a worker trains a lone arm: the same engine with one arm. Lockstep is how the
worker groups arms: at most `group_limit` of them (on the CPU, as many as keep their training state
in the last-level cache), so a ten-point sweep trains as several groups. Each case runs in rounds,
the two ways back to back in alternating order; the ratio is taken per round (the machine's speed
drifts between rounds, much less within one) and the median of the rounds is printed with its 95 %
confidence interval and range. Run: python -m bench.lockstep [rounds]
"""

import dataclasses
import statistics
import sys

import torch

from bench.common import DATA, header, summary, timed
from worker.config import TrainConfig
from worker.lockstep import group_limit, train_lockstep
from worker.train import load_data


def as_the_worker_groups(cfgs: list[TrainConfig], device) -> list[list[TrainConfig]]:
    size = group_limit(cfgs[0], device, limit=16)
    return [cfgs[i : i + size] for i in range(0, len(cfgs), size)]


def compare(label: str, cfgs: list[TrainConfig], data, device, rounds: int) -> None:
    groups = as_the_worker_groups(cfgs, device)
    ways = {
        "one by one": lambda: [train_lockstep([c], *data, device) for c in cfgs],
        "lockstep": lambda: [train_lockstep(g, *data, device) for g in groups],
    }
    train_lockstep(cfgs[:1], *data, device)  # warm-up
    ratios, times = [], {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        took = {name: timed(ways[name])[0] for name in order}
        for name, t in took.items():
            times[name].append(t)
        ratios.append(took["one by one"] / took["lockstep"])
    sizes = "+".join(str(len(g)) for g in groups)
    seq, lock = (statistics.median(times[name]) for name in ways)
    print(
        f"   {label:36s} groups {sizes:9s} one by one {seq:5.2f} s  lockstep {lock:5.2f} s"
        f"  speedup {summary(ratios)}",
        flush=True,
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    header(f"lockstep vs one by one ({rounds} rounds, medians)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for batch in (32, 256):
        base = TrainConfig(train_per_class=None, val_per_class=100, epochs=2, batch_size=batch)
        data = load_data(base, DATA, False, device)
        tutorial = [
            dataclasses.replace(base, arm="o"),
            dataclasses.replace(base, arm="l", l1=1e-4),
            dataclasses.replace(base, arm="r", l2=1e-3),
        ]
        compare(f"3 tutorial arms, batch {batch}", tutorial, data, device, rounds)
        if batch == 32:
            augmented = [dataclasses.replace(c, augment=True) for c in tutorial]
            compare("3 tutorial arms, augmented, batch 32", augmented, data, device, rounds)
            sweep = [
                dataclasses.replace(base, arm=f"l2={lam:g}", l2=lam)
                for lam in [0.0] + [10 ** (-6 + 5 * i / 8) for i in range(9)]
            ]
            compare("10-point L2 sweep, batch 32", sweep, data, device, rounds)


if __name__ == "__main__":
    main()
