"""Checkpoint bytes: the final checkpoint as a plain .pt dict and as safetensors; resume states.

Everything is read without unpickling arbitrary objects, not even from files reglab wrote itself:
.pt files through torch.load(weights_only=True), resume states as safetensors and JSON.
"""

import io
import json
from typing import Any

import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes

FORMAT = "reglab/1"
RESUME_FORMAT = "reglab-resume/2"
MODEL_CLASSES = {
    "mlp": "FullyConnected",
    "cnn": "SmallCNN",
    "simple_model": "SimpleModel",
    "simple_net": "SimpleNet",
}
# safetensors' names for the dtypes a training state holds.
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_ZIP = b"PK\x03\x04"  # how torch.save's files begin: resume states stored before reglab-resume/2


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


def snapshot(state: Any) -> bytearray:
    """A resume state (nested dicts, lists and tuples of tensors and plain values) as one
    safetensors blob, its tensors copied straight from the live ones into it.

    This copy is the snapshot: the training thread takes it and training may then change the
    tensors. No clone first and no pickling after: torch.save on the writer thread would hold the
    GIL that training needs for as long as it serializes, and make a second copy of the state; the
    writer only stores the blob. Everything but the tensors goes into the header's metadata as
    JSON, so reading it back runs no pickle."""
    tensors: list[torch.Tensor] = []
    tree = json.dumps(_skeleton(state, tensors))
    # Widest elements first: every tensor then starts at a multiple of its element size.
    order = sorted(range(len(tensors)), key=lambda i: -tensors[i].element_size())
    header: dict[str, Any] = {"__metadata__": {"format": RESUME_FORMAT, "tree": tree}}
    end = 0
    for i in order:
        t = tensors[i]
        start, end = end, end + t.numel() * t.element_size()
        header[str(i)] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [start, end],
        }
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned, as safetensors pads it
    blob = bytearray(8 + len(head) + end)
    blob[: 8 + len(head)] = len(head).to_bytes(8, "little") + head
    data = torch.frombuffer(blob, dtype=torch.uint8)[8 + len(head) :]
    for i in order:
        t = tensors[i]
        start, stop = header[str(i)]["data_offsets"]
        if stop > start:
            data[start:stop].view(t.dtype).view(t.shape).copy_(t.detach())
    return blob


def restore(blob: bytes | bytearray | memoryview, device: torch.device | str = "cpu") -> Any:
    """A resume state from its blob: reglab-resume/2 (snapshot()) or a torch.save file, as
    resume states were stored before."""
    blob = bytes(blob)
    if blob[:4] == _ZIP:
        return from_bytes(blob, device)
    size = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8 : 8 + size])["__metadata__"]
    if meta.get("format") != RESUME_FORMAT:
        raise ValueError(f"not a resume state: {meta.get('format')!r}")
    tensors = safetensors_load(blob)
    return _rebuild(json.loads(meta["tree"]), tensors, device)


def _skeleton(tree: Any, tensors: list[torch.Tensor]) -> Any:
    """tree as JSON, each tensor replaced by its index in tensors; tuples and dicts whose keys
    JSON cannot keep (ints: an optimizer's per-parameter state) tagged to come back as they were."""
    if isinstance(tree, torch.Tensor):
        tensors.append(tree)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(tree, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in tree):
            return {k: _skeleton(v, tensors) for k, v in tree.items()}
        return {"__items__": [[k, _skeleton(v, tensors)] for k, v in tree.items()]}
    if isinstance(tree, tuple):
        return {"__tuple__": [_skeleton(v, tensors) for v in tree]}
    if isinstance(tree, list):
        return [_skeleton(v, tensors) for v in tree]
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    raise TypeError(f"a resume state cannot hold {type(tree).__name__}")


def _rebuild(tree: Any, tensors: dict[str, torch.Tensor], device) -> Any:
    if isinstance(tree, list):
        return [_rebuild(v, tensors, device) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__tensor__" in tree:
        return tensors[str(tree["__tensor__"])].to(device)
    if "__tuple__" in tree:
        return tuple(_rebuild(v, tensors, device) for v in tree["__tuple__"])
    if "__items__" in tree:
        return {k: _rebuild(v, tensors, device) for k, v in tree["__items__"]}
    return {k: _rebuild(v, tensors, device) for k, v in tree.items()}
