"""Denormals flushed to zero (what the worker sets at start) against kept, side by side.

Three tutorial arms (Original, Lasso, Ridge) train 16 epochs at batch 32 in a child process each
way: the float mode is per thread and torch's intra-op threads copy it when they start, so one
process cannot switch it back and forth. The two run in rounds, in alternating order. Printed per
round: the mean epoch time (epoch 1 left out) each way and their ratio, for all epochs and for
epochs 9-16, where the weights have had time to decay into denormals; and how far the two ways'
final losses and accuracies are apart. Run: python -m bench.denormals [rounds]
"""

import json
import statistics
import subprocess
import sys

from bench.common import header, summary
from bench.overhead import ARMS

EPOCHS = 16
LATE = 9  # the first epoch counted as "late"


def child(mode: str) -> None:
    import torch

    from bench.common import DATA
    from bench.overhead import EXPERIMENT, bare_run
    from worker.config import TrainConfig
    from worker.train import load_data

    # Before any parallel op, so that the intra-op threads start in this mode too.
    torch.set_flush_denormal(mode == "flush")
    device = torch.device("cpu")
    data = load_data(TrainConfig.from_dict(EXPERIMENT), DATA, False, device)
    times, results = bare_run(data, device, EPOCHS)  # epochs 2 to EPOCHS
    final = [[r.metrics[k] for k in ("train_loss", "val_loss", "val_acc")] for r in results]
    print(json.dumps({"times": times, "final": final}))


def run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.denormals", "--child", mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1])
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 3
    header(
        f"denormals kept vs flushed (3 tutorial arms, batch 32, {EPOCHS} epochs, {rounds} rounds)"
    )
    ratios, late_ratios, apart = [], [], [0.0] * len(ARMS)
    for r in range(rounds):
        order = ["keep", "flush"] if r % 2 == 0 else ["flush", "keep"]
        got = {mode: run(mode) for mode in order}
        mean = {m: statistics.mean(got[m]["times"]) for m in got}
        late = {m: statistics.mean(got[m]["times"][LATE - 2 :]) for m in got}
        ratios.append(mean["keep"] / mean["flush"])
        late_ratios.append(late["keep"] / late["flush"])
        for i, (a, b) in enumerate(zip(got["keep"]["final"], got["flush"]["final"], strict=True)):
            apart[i] = max(apart[i], *(abs(x - y) for x, y in zip(a, b, strict=True)))
        print(
            f"   round {r + 1}: epochs 2-{EPOCHS}: kept {mean['keep'] * 1000:4.0f} ms, flushed "
            f"{mean['flush'] * 1000:4.0f} ms ({ratios[-1]:.2f}x); epochs {LATE}-{EPOCHS}: kept "
            f"{late['keep'] * 1000:4.0f} ms, flushed {late['flush'] * 1000:4.0f} ms "
            f"({late_ratios[-1]:.2f}x)",
            flush=True,
        )
    print(f"   kept / flushed, epochs 2-{EPOCHS}: {summary(ratios, 2)}")
    print(f"   kept / flushed, epochs {LATE}-{EPOCHS}: {summary(late_ratios, 2)}")
    print(
        "   final train loss, val loss and val accuracy, largest difference between the ways: "
        + ", ".join(f"{name} {d:.1e}" for (name, _), d in zip(ARMS, apart, strict=True))
    )


if __name__ == "__main__":
    main()
