"""(3) Arms in lockstep against the same arms one by one, in one run.

One by one is how a worker trains a lone arm: the same engine with one arm. Lockstep is how the
worker groups arms: at most `group_limit` of them (on the CPU, as many as keep their training state
in the last-level cache), so a ten-point sweep trains as several groups. Every arm alone and every
group is a process of its own, and they take turns epoch by epoch (bench/turns.py), in an order
that reverses every epoch: a round's epochs of both ways lie within seconds of each other, where
whole runs back to back straddled the VM's switches of speed. A round's ratio is the one-by-one
processes' total epoch time over the lockstep processes'; the median round is printed with its 95 %
confidence interval and range. Run: python -m bench.lockstep [rounds] [part of a case's name]
"""

import dataclasses
import statistics
import sys

from bench.common import DATA, header, summary
from bench.turns import Turn, in_turns
from worker.config import TrainConfig
from worker.lockstep import group_limit
from worker.train import flush_denormals, load_data, pick_device, train

EPOCHS = 3


def as_the_worker_groups(cfgs: list[TrainConfig], device) -> list[list[TrainConfig]]:
    size = group_limit(cfgs[0], device, limit=16)
    return [cfgs[i : i + size] for i in range(0, len(cfgs), size)]


def trained(turn: Turn, cfgs: list[TrainConfig]) -> None:
    """In its own process: these arms on the engine (one alone, or a group in lockstep), a turn
    per epoch."""
    flush_denormals()
    device = pick_device()
    data = load_data(cfgs[0], DATA, False, device)
    turn.begin()
    train(cfgs, *data, device, report=lambda reports: turn.end(), stacked=True)


def compare(label: str, cfgs: list[TrainConfig], rounds: int) -> None:
    groups = as_the_worker_groups(cfgs, pick_device())
    ratios, times = [], {"one by one": [], "lockstep": []}
    for r in range(rounds):
        ways = {f"alone {i}": (trained, ([c],)) for i, c in enumerate(cfgs)}
        ways |= {f"group {i}": (trained, (g,)) for i, g in enumerate(groups)}
        if r % 2:
            ways = dict(reversed(ways.items()))
        got = in_turns(ways)
        took = {
            way: sum(sum(got[name][0]) for name in got if name.startswith(prefix))
            for way, prefix in (("one by one", "alone"), ("lockstep", "group"))
        }
        for way, t in took.items():
            times[way].append(t)
        ratios.append(took["one by one"] / took["lockstep"])
    sizes = "+".join(str(len(g)) for g in groups)
    seq, lock = (statistics.median(times[way]) for way in ("one by one", "lockstep"))
    print(
        f"   {label:36s} groups {sizes:9s} one by one {seq:5.2f} s  lockstep {lock:5.2f} s"
        f"  speedup {summary(ratios)}",
        flush=True,
    )


def cases() -> dict[str, list[TrainConfig]]:
    out = {}
    for batch in (32, 256):
        base = TrainConfig(train_per_class=None, val_per_class=100, epochs=EPOCHS, batch_size=batch)
        tutorial = [
            dataclasses.replace(base, arm="o"),
            dataclasses.replace(base, arm="l", l1=1e-4),
            dataclasses.replace(base, arm="r", l2=1e-3),
        ]
        out[f"3 tutorial arms, batch {batch}"] = tutorial
        if batch == 32:
            out["3 tutorial arms, augmented, batch 32"] = [
                dataclasses.replace(c, augment=True) for c in tutorial
            ]
            out["10-point L2 sweep, batch 32"] = [
                dataclasses.replace(base, arm=f"l2={lam:g}", l2=lam)
                for lam in [0.0] + [10 ** (-6 + 5 * i / 8) for i in range(9)]
            ]
    return out


def main() -> None:
    """python -m bench.lockstep [rounds] [words of the cases to run, e.g. sweep]"""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    only = " ".join(sys.argv[2:])
    header(f"lockstep vs one by one ({EPOCHS} epochs in turns, {rounds} rounds, medians)")
    for label, cfgs in cases().items():
        if only in label:
            compare(label, cfgs, rounds)


if __name__ == "__main__":
    main()
