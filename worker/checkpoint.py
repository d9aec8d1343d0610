"""Checkpoints: a plain dict for torch.save, plus the same tensors as safetensors.

Written to a temporary file and renamed, so a reader (or a crash) never sees half a file.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

FORMAT = "reglab/1"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_final(
    directory: Path,
    run_id: int,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    epoch: int,
    metrics: dict[str, Any],
) -> tuple[str, int, str]:
    """Save run-<id>.pt and run-<id>.safetensors; return (filename, size, sha256) of the .pt."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    payload = {
        "format": FORMAT,
        "model": {"mlp": "FullyConnected", "cnn": "SmallCNN"}.get(config.get("model"), "?"),
        "state_dict": tensors,
        "config": config,
        "epoch": epoch,
        "metrics": metrics,
    }
    pt = directory / f"run-{run_id}.pt"
    _atomic_write(pt, lambda tmp: torch.save(payload, tmp))
    meta = {"format": FORMAT, "config": json.dumps(config), "epoch": str(epoch)}
    _atomic_write(
        pt.with_suffix(".safetensors"), lambda tmp: save_file(tensors, str(tmp), metadata=meta)
    )
    return pt.name, pt.stat().st_size, _sha256(pt)
