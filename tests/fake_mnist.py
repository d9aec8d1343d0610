"""Tiny MNIST-format files, for tests that must run without the real ones.

They are written in the exact idx layout torchvision reads, so the real loader is exercised. Each
class gets its own blob position, so a network can learn them in a few epochs.
"""

import struct
from pathlib import Path

import numpy as np


def _write_idx(path: Path, array: np.ndarray) -> None:
    dtype_code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, dtype_code, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    images = rng.integers(0, 40, size=(n, 28, 28))
    for i, label in enumerate(labels):
        r, c = 4 + 7 * (label // 4), 4 + 6 * (label % 4)
        images[i, r : r + 6, c : c + 6] = rng.integers(180, 256, size=(6, 6))
    return images


def write_fake_mnist(
    root: Path,
    train_per_class: int = 60,
    test_per_class: int = 40,
    seed: int = 0,
    folder: str = "MNIST",
) -> Path:
    """Write <root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte; return root.

    folder: MNIST, FashionMNIST or KMNIST (torchvision reads the same layout for all three).
    """
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", _images(labels, rng))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root
