"""Batch augmentation, side by side in one run: reglab's single fused affine warp per batch against
a chain of warps (flip, rotation and resized crop as three grid_samples) and kornia's augmentation
pipeline (the library option; per-image draws like reglab's), on batches of 32 MNIST-sized images.

Each way runs in rounds, in alternating order; the median time per batch is printed and the ratio
to reglab's. torchvision's v2 transforms are not comparable: applied to a batch they draw one set
of parameters for the whole batch. Run: python -m bench.augment [rounds]
"""

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from bench.common import header
from worker.augment import affine_matrices, epoch_draws, warp

BATCH, BATCHES = 32, 200
FLIP, ROTATE, SCALE = True, 15.0, 0.8


def reglab(x: torch.Tensor, thetas: torch.Tensor) -> None:
    for i in range(0, len(x), BATCH):
        warp(x[i : i + BATCH], thetas[i : i + BATCH])


def _apply(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def chain(x: torch.Tensor, u: torch.Tensor) -> None:
    """The same three transforms, each its own warp (and resampling) of the batch."""
    for i in range(0, len(x), BATCH):
        xb, ub = x[i : i + BATCH], u[i : i + BATCH]
        n = len(xb)
        identity = torch.eye(2, 3).expand(n, 2, 3)
        flip = torch.where(ub[:, 0] < 0.5, -1.0, 1.0)
        theta = identity.clone()
        theta[:, 0, 0] = flip
        xb = _apply(xb, theta)
        angle = (ub[:, 1] * 2 - 1) * torch.pi * ROTATE / 180
        rot = torch.zeros(n, 2, 3)
        rot[:, 0, 0], rot[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
        rot[:, 1, 0], rot[:, 1, 1] = torch.sin(angle), torch.cos(angle)
        xb = _apply(xb, rot)
        crop = affine_matrices(torch.cat([torch.ones(n, 1), ub[:, 1:]], 1), False, 0.0, SCALE)
        _apply(xb, crop)


def kornia_pipeline():
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    return torch.nn.Sequential(
        K.RandomHorizontalFlip(p=0.5),
        K.RandomRotation(degrees=ROTATE, p=1.0),
        K.RandomResizedCrop((28, 28), scale=(SCALE, 1.0), ratio=(3 / 4, 4 / 3), p=1.0),
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.manual_seed(0)
    header(f"augmentation of {BATCHES} batches of {BATCH} 28x28 images ({rounds} rounds, medians)")
    n = BATCH * BATCHES
    x = torch.rand(n, 1, 28, 28)
    u = epoch_draws(n, seed=0, epoch=1)
    ways = {
        "reglab: one fused warp": lambda: reglab(x, affine_matrices(u, FLIP, ROTATE, SCALE)),
        "a chain of three warps": lambda: chain(x, u),
    }
    kornia = kornia_pipeline()
    if kornia is not None:
        ways["kornia.augmentation"] = lambda: [kornia(x[i : i + BATCH]) for i in range(0, n, BATCH)]
    else:
        print("   kornia is not installed (pip install kornia): its row is left out")
    for way in ways.values():  # warm-up
        way()
    took = {name: [] for name in ways}
    for r in range(rounds):
        for name in list(ways) if r % 2 == 0 else list(reversed(ways)):
            t = time.perf_counter()
            ways[name]()
            took[name].append((time.perf_counter() - t) / BATCHES)
    ours = statistics.median(took["reglab: one fused warp"])
    for name, times in took.items():
        per_batch = statistics.median(times)
        print(
            f"   {name:24s} {per_batch * 1e6:7.0f} us per batch   {per_batch / ours:5.2f}x reglab's"
        )


if __name__ == "__main__":
    main()
