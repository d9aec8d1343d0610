"""(repeats) 3 tutorial arms x 5 repeats: grouped as the worker groups them against the same 15
runs one by one, side by side in one process.

The worker trains together only runs of the same seed (their lockstep keys are equal: the seed is a
shared setting), so 3 arms x 5 seeds train as 5 stacked computations of 3 arms (fewer per group
where the CPU's cache holds fewer), against 15 runs of one arm on the same engine. Runs of
different seeds have different data subsets, initial weights and batch orders, so they cannot share
one batch. Per seed, the grouped way and the one-by-one way train one after the other, in an order
that reverses every seed, so both see the machine at the same speed; a seed's ratio is the one-by-
one training time over the grouped one. The median seed is printed with its interval (bench.common
.summary). Run: python -m bench.repeats [epochs] [repeats]
"""

import dataclasses
import sys
import time

from bench.common import DATA, header, summary
from worker.config import TrainConfig
from worker.lockstep import group_limit, lockstep_key
from worker.train import load_data, pick_device, train


def tutorial(seed: int, epochs: int) -> list[TrainConfig]:
    base = TrainConfig(epochs=epochs, seed=seed)
    return [
        dataclasses.replace(base, arm="Original"),
        dataclasses.replace(base, arm="Lasso", l1=1e-4),
        dataclasses.replace(base, arm="Ridge", l2=1e-3),
    ]


def grouped(cfgs: list[TrainConfig], device) -> list[list[TrainConfig]]:
    """As the worker groups queued runs: equal lockstep keys, at most group_limit together."""
    by_key: dict[tuple, list[TrainConfig]] = {}
    for cfg in cfgs:
        by_key.setdefault(lockstep_key(cfg), []).append(cfg)
    size = group_limit(cfgs[0], device, limit=16)
    return [g[i : i + size] for g in by_key.values() for i in range(0, len(g), size)]


def seconds(groups: list[list[TrainConfig]], data, device) -> float:
    t0 = time.perf_counter()
    for g in groups:
        train(g, *data, device, stacked=True)
    return time.perf_counter() - t0


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    header(f"3 tutorial arms x {repeats} repeats, {epochs} epochs: grouped vs one by one")
    device = pick_device()
    ratios, totals = [], {"one by one": 0.0, "grouped": 0.0}
    for seed in range(repeats):
        cfgs = tutorial(seed, epochs)
        data = load_data(cfgs[0], DATA, False, device)
        ways = {"grouped": grouped(cfgs, device), "one by one": [[c] for c in cfgs]}
        order = list(ways) if seed % 2 == 0 else list(reversed(ways))
        took = {way: seconds(ways[way], data, device) for way in order}
        for way, t in took.items():
            totals[way] += t
        ratios.append(took["one by one"] / took["grouped"])
        sizes = "+".join(str(len(g)) for g in ways["grouped"])
        print(
            f"   seed {seed}: groups {sizes}  one by one {took['one by one']:6.2f} s  "
            f"grouped {took['grouped']:6.2f} s  ratio {ratios[-1]:.3f}",
            flush=True,
        )
    print(
        f"   all {3 * repeats} runs: one by one {totals['one by one']:6.2f} s  grouped "
        f"{totals['grouped']:6.2f} s  speedup (one by one / grouped) {summary(ratios)}"
    )


if __name__ == "__main__":
    main()
