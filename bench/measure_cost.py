"""What issue 21's measurements cost: the tutorial's three arms (Original, Lasso, Ridge on all of
MNIST's training images, 300 validation images per class, hidden 500, batch 32) trained with and
without them, side by side in one run, and the bytes they add per arm-epoch.

"Without" is the loop as it was (weight statistics and histograms); "with" adds shrink and sign
flips against the initial weights, the dead units seen during the evaluation pass, and the weight
images. The two ways run in turns, each in its own process (bench/turns.py): one epoch of one, one
of the other, the order reversing each time, so the epochs compared are seconds apart. Each run's
first epoch (set-up, warm-up) is left out; a round's figure is the ratio of the two ways' total
epoch time. Then the new parts alone, as CPU time of the training thread per epoch: what they take
from training whatever the machine's drift does. Target: at most 3 % of the epoch, and at most
64 KiB stored per arm-epoch.
Run: python -m bench.measure_cost [rounds] [epochs] [--train-per-class N]
"""

import argparse
import json
import statistics
import time

from bench.common import DATA, header, summary
from bench.turns import Turn, in_turns
from worker.config import TrainConfig
from worker.engines import DeadUnits
from worker.lockstep import StackedEngine
from worker.stats import IMAGE_BUDGET, weight_figures, weight_images
from worker.train import flush_denormals, load_data, pick_device, train

EXPERIMENT = {
    "dataset": "mnist",
    "train_per_class": None,
    "val_per_class": 300,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "hidden": 500,
    "seed": 0,
}
ARMS = [("Original", {}), ("Lasso", {"l1": 1e-4}), ("Ridge", {"l2": 1e-3})]


def arms(epochs: int, per_class: int | None) -> list[TrainConfig]:
    experiment = {**EXPERIMENT, "epochs": epochs, "train_per_class": per_class}
    return [TrainConfig.from_dict({**experiment, **arm, "arm": name}) for name, arm in ARMS]


def way(turn: Turn, change: bool, epochs: int, per_class: int | None) -> None:
    """In its own process: the three arms for `epochs` epochs, a turn per epoch."""
    flush_denormals()
    device = pick_device()
    cfgs = arms(epochs, per_class)
    data = load_data(cfgs[0], DATA, False, device)
    turn.begin()
    train(cfgs, *data, device, measure_change=change, report=lambda r: turn.end(), stacked=True)


def stored_bytes(cfgs: list[TrainConfig], data, device) -> list[int]:
    """Per arm, the bytes one epoch adds: the weight images and the new figures as JSON."""
    sizes = []
    train(cfgs, *data, device, stacked=True, report=lambda rs: sizes.extend(map(added, rs)))
    return sizes


def added(report) -> int:
    figures = {
        name: {k: v for k, v in stats.items() if k in ("shrink", "sign_flip_frac")}
        for name, stats in report.layers.items()
    }
    text = json.dumps(figures) + json.dumps(report.dead_units)
    return report.images.nbytes + len(text.encode())


def parts(cfgs: list[TrainConfig], data, device, epoch_ms: float, repeats: int = 20) -> None:
    """Each new part alone, CPU time of this thread, on trained-like weights."""
    engine = StackedEngine(cfgs, data[0], device)
    shape = tuple(data[0].x.shape[1:])

    def cpu_ms(fn, times: int = repeats) -> float:
        fn()
        t = time.thread_time()
        for _ in range(times):
            fn()
        return (time.thread_time() - t) / times * 1000

    states = [engine.arm_state(a) for a in range(len(cfgs))]
    initial = engine.initial
    figures = [
        cpu_ms(lambda: [weight_figures(s, engine.bases) for s in states]),
        cpu_ms(lambda: [weight_figures(s, engine.bases, initial[a]) for a, s in enumerate(states)]),
    ]
    images = cpu_ms(lambda: [weight_images(s, shape) for s in states])
    plain = cpu_ms(lambda: engine.evaluate(data[1]), repeats // 4)
    probed = cpu_ms(lambda: engine.evaluate(data[1], DeadUnits()), repeats // 4)
    extra = figures[1] - figures[0] + images + probed - plain
    print(
        f"   parts, CPU ms per epoch of three arms: shrink + sign flips "
        f"{figures[1] - figures[0]:.2f} (statistics {figures[0]:.2f} -> {figures[1]:.2f}); "
        f"weight images {images:.2f}; dead units {probed - plain:.2f} (evaluation {plain:.1f} -> "
        f"{probed:.1f}); all {extra:.2f} ms = {100 * extra / epoch_ms:.2f} % of a "
        f"{epoch_ms:.0f} ms epoch"
    )


def main(rounds: int, epochs: int, per_class: int | None) -> None:
    header(
        f"issue 21's measurements: the tutorial's three arms with and without them, "
        f"{rounds} rounds of {epochs} epochs in turns"
    )
    ratios, pairs, means = [], [], {"without": [], "with": []}
    for r in range(rounds):
        ways = {
            "without": (way, (False, epochs, per_class)),
            "with": (way, (True, epochs, per_class)),
        }
        if r % 2:
            ways = dict(reversed(ways.items()))
        got = in_turns(ways)
        off, on = ([t for i, t in enumerate(got[n][0]) if i % epochs] for n in ("without", "with"))
        ratios.append(sum(on) / sum(off))
        pairs += [b / a for a, b in zip(off, on, strict=True)]
        means["without"].append(statistics.mean(off))
        means["with"].append(statistics.mean(on))
        print(
            f"   round {r + 1}: without {means['without'][-1] * 1000:5.0f} ms  with "
            f"{means['with'][-1] * 1000:5.0f} ms  with / without = {ratios[-1]:.3f}",
            flush=True,
        )
    off = statistics.median(means["without"])
    print(
        f"   median epoch: without {off * 1000:.0f} ms, with "
        f"{statistics.median(means['with']) * 1000:.0f} ms; with / without = {summary(ratios)}; "
        f"all {len(pairs)} epoch pairs: median {statistics.median(pairs):.3f} (target <= 1.03)"
    )
    flush_denormals()
    device = pick_device()
    cfgs = arms(2, per_class)
    data = load_data(cfgs[0], DATA, False, device)
    parts(cfgs, data, device, off * 1000)
    sizes = stored_bytes(cfgs, data, device)
    print(
        f"   stored per arm-epoch: {max(sizes)} bytes at most ({max(sizes) / 1024:.1f} KiB; "
        f"budget {IMAGE_BUDGET // 1024} KiB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=4)
    parser.add_argument("epochs", type=int, nargs="?", default=3)
    parser.add_argument("--train-per-class", type=int, default=None, help="default: all")
    a = parser.parse_args()
    main(a.rounds, a.epochs, a.train_per_class)
