"""Checkpoint bytes: the final checkpoint as a plain .pt dict and as safetensors; resume states.

Everything is loaded back with torch.load(weights_only=True): reglab never unpickles arbitrary
objects, not even from files it wrote itself.
"""

import io
import json
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

FORMAT = "reglab/1"
MODEL_CLASSES = {"mlp": "FullyConnected", "cnn": "SmallCNN"}


def final_files(
    state_dict: dict[str, torch.Tensor], config: dict[str, Any], epoch: int, metrics: dict[str, Any]
) -> dict[str, bytes]:
    """{"pt": ..., "safetensors": ...} for a trained model."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    payload = {
        "format": FORMAT,
        "model": MODEL_CLASSES.get(config.get("model", "mlp"), "?"),
        "state_dict": tensors,
        "config": config,
        "epoch": epoch,
        "metrics": metrics,
    }
    meta = {"format": FORMAT, "config": json.dumps(config), "epoch": str(epoch)}
    return {"pt": to_bytes(payload), "safetensors": safetensors_bytes(tensors, metadata=meta)}


def to_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def from_bytes(data: bytes, device: torch.device | str = "cpu") -> Any:
    return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
