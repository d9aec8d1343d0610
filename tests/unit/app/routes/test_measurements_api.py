"""Issue 21's figures, served by the API, reproduce from the downloaded checkpoint: the weight
images are rows of linear_1.weight and its column-wise L1 norm, dead units recompute on the
validation subset, shrink and sign flips against the model the seed builds."""

import io

import torch

from tests.factories import SMALL_THREE_ARMS as SMALL
from worker.config import TrainConfig
from worker.engines import model_for
from worker.loop import Worker
from worker.train import load_data

ARMS = SMALL["runs"] + [{"name": "batch norm", "batchnorm": True}]  # the autograd engine too


def checkpoint_of(client, run) -> dict:
    r = client.get(run["checkpoint_url"])
    assert r.status_code == 200
    return torch.load(io.BytesIO(r.content), weights_only=True)


def dead_units(model: torch.nn.Module, split) -> float:
    """linear_1's ReLU units that output 0 for every validation image, from the model alone."""
    model.eval()
    with torch.no_grad():
        z = model.linear_1(split.x.flatten(1).float() / 255)
        if hasattr(model, "bn_1"):
            z = model.bn_1(z)
    return (z.relu().amax(dim=0) <= 0).double().mean().item()


def test_every_new_figure_reproduces_from_the_checkpoint(client, settings):
    exp = client.post("/api/experiments", json={**SMALL, "runs": ARMS}).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 4
    runs = client.get(f"/api/experiments/{exp['id']}").json()["runs"]
    summary = {
        a["run_id"]: a for a in client.get(f"/api/experiments/{exp['id']}/summary").json()["arms"]
    }
    units = None
    for run in runs:
        ckpt = checkpoint_of(client, run)
        cfg = TrainConfig.from_dict(ckpt["config"])
        train_split, val_split = load_data(cfg, settings.dataset_root, False, torch.device("cpu"))
        w = ckpt["state_dict"]["linear_1.weight"]

        images = client.get(f"/api/runs/{run['id']}/weights").json()  # the latest: the final epoch
        assert images["epoch"] == ckpt["epoch"] == 2
        assert images["layer"] == "linear_1.weight" and images["image_shape"] == [1, 28, 28]
        units = units or images["units"]
        assert images["units"] == units and len(units) == 16  # the same units for every arm
        tiles = torch.tensor(images["tiles"])
        assert (tiles - w[units]).abs().max() <= 1e-3 * w.abs().max()
        assert torch.allclose(torch.tensor(images["importance"]), w.abs().sum(0), rtol=1e-6)
        first = client.get(f"/api/runs/{run['id']}/weights?epoch=1").json()
        assert first["epoch"] == 1 and first["tiles"] != images["tiles"]

        last = client.get(f"/api/runs/{run['id']}/metrics").json()["epochs"][-1]
        model = model_for(cfg, train_split)
        w0 = model.state_dict()["linear_1.weight"]
        figures = last["layers"]["linear_1.weight"]
        assert abs(figures["shrink"] - ((w - w0).norm() / w0.norm()).item()) <= 1e-5
        flips = (w.sign() * w0.sign() < 0).double().mean().item()
        assert abs(figures["sign_flip_frac"] - flips) <= 1e-12
        model.load_state_dict(ckpt["state_dict"])
        dead = dead_units(model, val_split)
        assert abs(last["dead_units"]["linear_1"] - dead) <= 1e-12
        assert summary[run["id"]]["dead_units"] == last["dead_units"]["linear_1"]
        if "bn_1.weight" in ckpt["state_dict"]:  # batch norm's gamma: mean |gamma| as for weights
            gamma = ckpt["state_dict"]["bn_1.weight"].abs().mean().item()
            assert abs(last["layers"]["bn_1.weight"]["mean_abs"] - gamma) <= 1e-6

    curves = client.get(f"/api/experiments/{exp['id']}/curves").json()["runs"][0]
    assert (
        set(curves["dead_units"][0]) == {"linear_1"}
        and "shrink" in curves["layers"]["linear_1.weight"]
    )


def test_missing_weight_images_answer_404_in_plain_words(client, settings):
    exp = client.post("/api/experiments", json={**SMALL, "epochs": 1}).json()
    run_id = exp["runs"][0]["id"]
    r = client.get(f"/api/runs/{run_id}/weights")
    assert r.status_code == 404 and "no weight images" in r.json()["detail"]
    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    r = client.get(f"/api/runs/{run_id}/weights?epoch=5")
    assert r.status_code == 404 and "at epoch 5" in r.json()["detail"]
    assert client.get(f"/api/runs/{run_id}/weights?epoch=0").status_code == 422
    assert client.get(f"/api/runs/{run_id}/weights?epoch=1").status_code == 200
