"""(1) The tutorial's own pipeline against reglab's engine, three arms, side by side in one run.

Tutorial: torchvision MNIST with per-sample ToTensor (and, with augmentation, per-sample PIL flip,
rotation and resized crop) through a DataLoader, batch 32, the 784-500-10 network, cross-entropy
plus the arm's L1/L2 term, Adam, each arm its own model and loader, a validation pass per epoch.
reglab: the worker's engine on the same 5,000 images (lockstep arms, batch augmentation on the
device, per-epoch statistics and histograms). Each in its own process, in turns of one epoch of
the three arms (bench/turns.py). Run: python -m bench.tutorial_vs_engine
"""

import argparse
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from bench.common import DATA, header, summary
from bench.turns import Turn, in_turns
from worker.config import TrainConfig
from worker.train import flush_denormals, load_data, pick_device, train

ARMS = [("Original", 0.0, 0.0), ("Lasso", 1e-4, 0.0), ("Ridge", 0.0, 1e-3)]


class FullyConnected(nn.Module):  # as the tutorial writes it
    def __init__(self):
        super().__init__()
        self.linear_1 = nn.Linear(784, 500)
        self.relu = nn.ReLU()
        self.linear_2 = nn.Linear(500, 10, bias=False)

    def forward(self, x):
        return self.linear_2(self.relu(self.linear_1(x.view(x.size(0), -1))))


def tutorial(turn: Turn, epochs: int, augment: bool, val_images: int) -> int:
    """In its own process: the tutorial's pipeline, a turn per epoch of all three arms (each arm
    its own model, optimizer and shuffled loader, as when they run one after the other; taking
    them epoch by epoch changes no arithmetic, only the order in which arms get the CPU)."""
    flush_denormals()
    turn.begin()  # the datasets and loaders are built in the first turn: part of the pipeline
    tf = [transforms.ToTensor()]
    if augment:
        tf = [
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(15),
            transforms.RandomResizedCrop(28, scale=(0.8, 1.0)),
        ] + tf
    train_set = datasets.MNIST(str(DATA), train=True, transform=transforms.Compose(tf))
    val_set = Subset(
        datasets.MNIST(str(DATA), train=False, transform=transforms.ToTensor()), range(val_images)
    )
    arms = []
    for _name, l1, l2 in ARMS:
        torch.manual_seed(0)
        model = FullyConnected()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        arms.append((model, opt, DataLoader(train_set, batch_size=32, shuffle=True), l1, l2))
    images = 0
    for _ in range(epochs):
        for model, opt, loader, l1, l2 in arms:
            model.train()
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                weights = [p for p in model.parameters() if p.ndim > 1]
                if l1:
                    loss = loss + l1 * sum(p.abs().sum() for p in weights)
                if l2:
                    loss = loss + l2 * sum(p.pow(2).sum() for p in weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
                images += len(y)
            model.eval()
            with torch.no_grad():
                for x, y in DataLoader(val_set, batch_size=1000):
                    model(x).argmax(1).eq(y).sum()
        turn.end()
    return images


def engine(turn: Turn, epochs: int, augment: bool, val_images: int) -> int:
    """In its own process: reglab's engine as the worker runs it, a turn per epoch."""
    flush_denormals()
    turn.begin()  # loading the data onto the device is in the first turn
    base = TrainConfig(
        train_per_class=None,
        val_per_class=val_images // 10,
        epochs=epochs,
        batch_size=32,
        augment=augment,
        aug_flip=True,
        aug_rotate=15,
        aug_scale=0.8,
    )
    cfgs = [TrainConfig(**{**base.to_dict(), "arm": n, "l1": l1, "l2": l2}) for n, l1, l2 in ARMS]
    device = pick_device()
    train_split, val_split = load_data(base, DATA, False, device)
    train(cfgs, train_split, val_split, device, report=lambda reports: turn.end(), stacked=True)
    return len(train_split) * epochs * len(cfgs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--val", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    header(
        f"tutorial pipeline vs reglab engine: 3 arms, batch 32, 5,000 images, {args.epochs} "
        f"epochs in turns ({args.rounds} rounds, median)"
    )
    for augment in (False, True):
        # Each way in its own process, taking turns epoch by epoch (bench/turns.py): the VM's
        # speed switches for tens of seconds at a time, and a round of whole runs back to back
        # could straddle a switch. The first turn includes each way's set-up (datasets, loaders,
        # the data on the device); the round's ratio is of the total times, so all of it counts.
        ratios, rates = [], {"tutorial": [], "reglab": []}
        for r in range(args.rounds):
            ways = {
                "tutorial": (tutorial, (args.epochs, augment, args.val)),
                "reglab": (engine, (args.epochs, augment, args.val)),
            }
            if r % 2:
                ways = dict(reversed(ways.items()))  # which way goes first alternates too
            got = in_turns(ways)
            took = {name: sum(durations) for name, (durations, _) in got.items()}
            for name, (_, images) in got.items():
                rates[name].append(images / took[name])
            ratios.append(rates["reglab"][-1] / rates["tutorial"][-1])
        label = "with augmentation   " if augment else "without augmentation"
        print(
            f"   {label}: tutorial {statistics.median(rates['tutorial']):8,.0f} img/s   "
            f"reglab {statistics.median(rates['reglab']):8,.0f} img/s   "
            f"speedup {summary(ratios, digits=2)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
