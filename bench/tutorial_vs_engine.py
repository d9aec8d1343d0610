"""(1) The tutorial's own pipeline against reglab's engine, three arms, side by side in one run.

Tutorial: torchvision MNIST with per-sample ToTensor (and, with augmentation, per-sample PIL flip,
rotation and resized crop) through a DataLoader, batch 32, the 784-500-10 network, cross-entropy
plus the arm's L1/L2 term, Adam, the arms one after the other, a validation pass per epoch.
reglab: the worker's engine on the same 5,000 images (lockstep arms, batch augmentation on the
device, per-epoch statistics and histograms). Run: python -m bench.tutorial_vs_engine
"""

import argparse
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from bench.common import DATA, header, summary, timed
from worker.config import TrainConfig
from worker.lockstep import train_lockstep
from worker.train import load_data

ARMS = [("Original", 0.0, 0.0), ("Lasso", 1e-4, 0.0), ("Ridge", 0.0, 1e-3)]


class FullyConnected(nn.Module):  # as the tutorial writes it
    def __init__(self):
        super().__init__()
        self.linear_1 = nn.Linear(784, 500)
        self.relu = nn.ReLU()
        self.linear_2 = nn.Linear(500, 10, bias=False)

    def forward(self, x):
        return self.linear_2(self.relu(self.linear_1(x.view(x.size(0), -1))))


def tutorial(epochs: int, augment: bool, val_images: int) -> float:
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
    images = 0
    for _name, l1, l2 in ARMS:
        torch.manual_seed(0)
        model = FullyConnected()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(train_set, batch_size=32, shuffle=True)
        for _ in range(epochs):
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
    return images


def engine(epochs: int, augment: bool, val_images: int) -> int:
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
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_split, val_split = load_data(base, DATA, False, device)
    train_lockstep(cfgs, train_split, val_split, device)
    return len(train_split) * epochs * len(cfgs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--val", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    header(
        f"tutorial pipeline vs reglab engine: 3 arms, batch 32, 5,000 images "
        f"({args.rounds} alternating rounds, median)"
    )
    for augment in (False, True):
        # Back to back in alternating order, the ratio per round: the machine's speed drifts,
        # and reglab's runs are short enough that one slow stretch can move a single timing.
        ratios, rates = [], {"tutorial": [], "reglab": []}
        for r in range(args.rounds):
            ways = [("tutorial", tutorial), ("reglab", engine)]
            took = {}
            for name, fn in ways if r % 2 == 0 else reversed(ways):
                t, n = timed(fn, args.epochs, augment, args.val)
                took[name] = t / n  # seconds per image
                rates[name].append(n / t)
            ratios.append(took["tutorial"] / took["reglab"])
        label = "with augmentation   " if augment else "without augmentation"
        print(
            f"   {label}: tutorial {statistics.median(rates['tutorial']):8,.0f} img/s   "
            f"reglab {statistics.median(rates['reglab']):8,.0f} img/s   "
            f"speedup {summary(ratios, digits=2)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
