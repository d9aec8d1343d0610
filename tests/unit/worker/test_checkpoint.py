"""Resume states as blobs: every value comes back as it went in, the blob is plain safetensors
(read without unpickling anything), and states stored by torch.save before still restore."""

import math

import pytest
import torch
from safetensors.torch import load as safetensors_load

from worker import checkpoint


def state() -> dict:
    torch.manual_seed(0)
    return {
        "epoch": 3,
        "model": {"w": torch.randn(4, 5), "b": torch.randn(5), "empty": torch.zeros(0)},
        "optimizer": {
            # int keys and tuples, as an optimizer's state_dict holds them
            "state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.randn(4, 5)}, 1: {}},
            "param_groups": [{"betas": (0.9, 0.999), "params": [0, 1], "foreach": None}],
        },
        "rng": torch.get_rng_state(),
        "counts": torch.tensor([1, 2, 3], dtype=torch.int64),
        "mask": torch.tensor([True, False]),
        "half": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "wide": torch.tensor([1 / 3], dtype=torch.float64),
        "metrics": {"val_acc": 0.1 + 0.2, "tiny": 5e-324, "nan": math.nan, "inf": -math.inf},
        "__odd": "a key JSON could mistake for a tag",
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and (
        a == b or (isinstance(a, float) and math.isnan(a) == math.isnan(b))
    )


def test_a_state_comes_back_exactly():
    original = state()
    assert same(original, checkpoint.restore(checkpoint.snapshot(original)))


def test_the_snapshot_is_a_copy_taken_when_it_is_made():
    live = state()
    blob = checkpoint.snapshot(live)
    kept = live["model"]["w"].clone()
    live["model"]["w"].add_(1.0)  # training goes on
    live["optimizer"]["state"][0]["step"].add_(1)
    restored = checkpoint.restore(blob)
    assert torch.equal(restored["model"]["w"], kept)
    assert restored["optimizer"]["state"][0]["step"].item() == 7.0


def test_views_of_stacked_tensors_are_stored_as_their_own_tensors():
    stacked = torch.arange(24.0).view(3, 2, 4)  # a lockstep parameter: arm 1 is stacked[1]
    restored = checkpoint.restore(checkpoint.snapshot({"w": stacked[1], "t": stacked[:, 0]}))
    assert torch.equal(restored["w"], stacked[1]) and restored["w"].shape == (2, 4)
    assert torch.equal(restored["t"], stacked[:, 0])


def test_the_blob_is_plain_safetensors():
    blob = checkpoint.snapshot(state())
    tensors = safetensors_load(bytes(blob))
    assert len(tensors) == 10
    assert any(t.dtype == torch.bool for t in tensors.values())


def test_states_stored_before_by_torch_save_still_restore():
    original = state()
    old = checkpoint.to_bytes(original)
    assert same(original, checkpoint.restore(old))


def test_what_json_cannot_keep_is_refused_when_the_snapshot_is_taken():
    with pytest.raises(TypeError, match="cannot hold set"):
        checkpoint.snapshot({"odd": {1, 2}})


def test_a_safetensors_file_that_is_no_resume_state_is_refused():
    final = checkpoint.final_files({"w": torch.ones(2)}, {"model": "mlp"}, 1, {})["safetensors"]
    with pytest.raises(ValueError, match="not a resume state"):
        checkpoint.restore(final)
