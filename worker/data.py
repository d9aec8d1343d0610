"""Datasets through torchvision, held whole as uint8 tensors on the training device.

Batches are taken by index from those tensors and converted to float per batch: no per-sample
Python work, and one host-to-device copy per dataset instead of one per batch.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets

from store import spec

DATASETS: dict[str, type[datasets.VisionDataset]] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
    "cifar10": datasets.CIFAR10,
}
# Known before a dataset is loaded, from the spec (store.spec.DATASETS): (channels, height,
# width) and the number of classes of each.
IMAGE_SHAPES = {d.key: d.shape for d in spec.DATASETS}
CLASSES = {d.key: d.classes for d in spec.DATASETS}
# The models' output width while every dataset has the same number of classes; a dataset with
# another number needs the models built with CLASSES[dataset] instead.
assert len(set(CLASSES.values())) == 1, "datasets differ in classes: use CLASSES[dataset]"
NUM_CLASSES = next(iter(CLASSES.values()))
# The files torchvision's MNIST-style loaders read from <root>/<ClassName>/raw/.
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def where_to_put(name: str, root: Path) -> str:
    cls = DATASETS[name]
    if cls is datasets.CIFAR10:
        return (
            f"CIFAR-10 is not in {root / 'cifar-10-batches-py'}. Put the python version there "
            f"(data_batch_1 ... data_batch_5, test_batch, batches.meta), or "
            f"cifar-10-python.tar.gz in {root}, or set REGLAB_DATA_DIR to a folder that has them."
        )
    where = root / cls.__name__ / "raw"
    return (
        f"{cls.__name__} is not in {where}. Put the files {', '.join(RAW_FILES)} there "
        f"(or their .gz originals), or set REGLAB_DATA_DIR to a folder that has "
        f"{cls.__name__}/raw/ in it."
    )


class DatasetMissing(RuntimeError):
    """The dataset is not on disk and could not be downloaded; the message says where to put it."""


@dataclass
class Split:
    x: torch.Tensor  # uint8, (N, C, H, W); a toy task's: float32, (N, features)
    y: torch.Tensor  # int64, (N,); a regression task's: float32, (N, outputs)

    def __len__(self) -> int:
        return self.y.shape[0]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The examples at idx. index_select copies whole rows; `x[idx]` goes through advanced
        indexing, element by element, ten times slower for a batch of uint8 images on the CPU."""
        return self.x.index_select(0, idx), self.y.index_select(0, idx)


def _open(name: str, root: Path, train: bool, download: bool) -> datasets.VisionDataset:
    cls = DATASETS[name]
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError as missing:
        hint = where_to_put(name, root)
        if not download:
            raise DatasetMissing(hint + " Downloading is off (REGLAB_DOWNLOAD=false).") from missing
        try:
            return cls(str(root), train=train, download=True)
        except Exception as failed:  # network errors come in many types
            reason = " ".join(str(failed).split())[:300] or type(failed).__name__
            raise DatasetMissing(f"{hint} Downloading failed: {reason}") from failed


def load_split(name: str, root: Path, train: bool, download: bool) -> Split:
    ds = _open(name, root, train, download)
    x = torch.as_tensor(ds.data)
    # MNIST-style datasets hold (N, H, W): one channel; CIFAR-10 holds (N, H, W, C) arrays.
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return Split(x=x, y=y)


def select_n_per_class(targets: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of n examples of every class, chosen at random but reproducibly from the seed.

    Sorted, so the subset does not depend on the order classes were visited.
    """
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(targets).tolist():
        idx = (targets == c).nonzero().flatten()
        if idx.numel() < n:
            raise ValueError(f"class {c} has only {idx.numel()} examples; {n} per class were asked")
        chosen.append(idx[torch.randperm(idx.numel(), generator=g)[:n]])
    return torch.cat(chosen).sort().values


def subset(split: Split, per_class: int | None, seed: int) -> Split:
    if per_class is None:
        return split
    idx = select_n_per_class(split.y, per_class, seed)
    return Split(*split.take(idx))


def to_device(split: Split, device: torch.device) -> Split:
    pin = device.type == "cuda"
    x, y = split.x, split.y
    if pin:
        x, y = x.pin_memory(), y.pin_memory()
    return Split(x=x.to(device, non_blocking=pin), y=y.to(device, non_blocking=pin))


def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to floats in [0, 1], as torchvision's ToTensor does. Float inputs (a toy
    task's points) pass unchanged: they are values, not pixels, and dividing in place would
    scale the held tensor itself when `.to` returns it as it is."""
    if x.is_floating_point():
        return x
    return x.to(torch.float32).div_(255.0)
