"""Toy tasks through the API: per-task defaults, settings that do not apply, models that do not
fit, the presets as POST bodies, and function views stored by a real worker."""

import pytest

from store.spec import TASK, TASKS

ARMS = [{"name": "Original"}, {"name": "L2", "l2": 1e-3}]


def post(client, **body):
    return client.post("/api/experiments", json=body)


def errors(r) -> dict:
    assert r.status_code == 422, r.text
    return {tuple(e["loc"][1:]): e["msg"] for e in r.json()["detail"]}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.key)
def test_naming_only_the_task_epochs_seed_and_arms_takes_the_tasks_defaults(client, task):
    r = post(client, dataset=task.key, epochs=3, seed=1, runs=ARMS)
    assert r.status_code == 201, r.text
    cfg = r.json()["config"]
    for key, value in {**task.params, **task.defaults, "epochs": 3}.items():
        assert cfg[key] == value, key
    assert cfg["batch_size"] == task.params["n_train"]  # full batch


def test_a_given_size_sets_the_full_batch_and_given_settings_win(client):
    cfg = post(client, dataset="moons", n_train=120, lr=0.05, runs=ARMS).json()["config"]
    assert (cfg["n_train"], cfg["batch_size"], cfg["lr"], cfg["epochs"]) == (120, 120, 0.05, 300)
    cfg = post(client, dataset="moons", batch_size=50, runs=ARMS).json()["config"]
    assert cfg["batch_size"] == 50


def test_a_model_that_does_not_fit_the_task_is_refused_on_the_model_field(client):
    assert "does not fit moons" in errors(post(client, dataset="moons", model="cnn"))[("model",)]
    assert "does not fit mnist" in errors(post(client, model="simple_net"))[("model",)]


def test_settings_that_do_not_apply_are_refused_unless_blank_or_default(client):
    got = errors(post(client, dataset="mnist", noise=0.3))
    assert got == {("noise",): got[("noise",)]} and "not mnist" in got[("noise",)]
    got = errors(post(client, dataset="moons", train_per_class=5, runs=ARMS))
    assert "not moons" in got[("train_per_class",)]
    got = errors(post(client, dataset="moons", runs=[{"name": "A", "augment": True}]))
    assert ("runs", 0, "augment") in got
    got = errors(post(client, dataset="sparse_linear", n_features=10, k=11, runs=ARMS))
    assert "at most n_features (10)" in got[("k",)]
    # The form sends every field: blank (null) and default values are ignored, not refused.
    ok = post(client, dataset="moons", train_per_class=100, noise=None, k=None, runs=ARMS)
    assert ok.status_code == 201 and ok.json()["config"]["noise"] == TASK["moons"].params["noise"]


def test_presets_are_post_bodies(client):
    presets = client.get("/api/presets").json()
    assert {"l2_article", "wd_lesson", "poly", "moons", "sparse"} <= set(presets)
    assert presets["l2_article"]["label"] == "L2 article: SimpleModel with SGD weight_decay"
    lesson = presets["wd_lesson"]["experiment"]
    assert lesson["dataset"] == "noise_regression" and lesson["epochs"] > 5
    assert [a["weight_decay"] for a in lesson["runs"]] == [0, 1e-4, 1e-2]
    for key, preset in presets.items():
        r = client.post("/api/experiments", json=preset["experiment"])
        assert r.status_code == 201, (key, r.text)


def _checkpoint_model(client, run: dict):
    """The arm's final checkpoint, loaded into a freshly built model of its kind."""
    import io

    import torch

    from worker.models import build_model

    ckpt = torch.load(io.BytesIO(client.get(run["checkpoint_url"]).content), weights_only=True)
    cfg = ckpt["config"]
    task = TASK[cfg["dataset"]]
    model = build_model(
        cfg["model"], (task.input_dim(cfg["n_features"]),), task.out_dim, cfg["hidden"], 0,
        cfg["depth"],
    )  # fmt: skip
    model.load_state_dict(ckpt["state_dict"])
    return model, cfg


@pytest.mark.parametrize(
    ("task", "extra"),
    [
        ("moons", {"n_train": 60, "n_val": 40, "hidden": 16}),
        ("poly1d", {"hidden": 16}),
        ("sparse_linear", {}),
    ],
)
def test_worker_stores_function_views_the_checkpoint_reproduces(client, settings, task, extra):
    from store import functions
    from worker import tasks
    from worker.config import TrainConfig
    from worker.loop import Worker
    from worker.train import load_task

    body = {"dataset": task, "epochs": 4, "runs": ARMS, **extra}
    exp = client.post("/api/experiments", json=body).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 2
    runs = client.get(f"/api/experiments/{exp['id']}").json()["runs"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    for run in runs:
        got = client.get(f"/api/runs/{run['id']}/function").json()
        assert got["epoch"] == 4 and got["epochs"][0] == 1 and got["epochs"][-1] == 4
        first = client.get(f"/api/runs/{run['id']}/function?epoch=1").json()
        assert first["epoch"] == 1 and first != got
        model, cfg = _checkpoint_model(client, run)
        again = tasks.function_view(task, model, load_task(TrainConfig.from_dict(cfg)))
        view, grid = functions.pack(again)
        points = view.pop("points", None)
        assert functions.unpack(view, grid) == {k: got[k] for k in again if k != "points"}
        assert points == got.get("points")
        metrics = client.get(f"/api/runs/{run['id']}/metrics").json()["epochs"]
        if TASK[task].kind == "regression":
            assert all(m["train_acc"] is None and m["val_acc"] is None for m in metrics)
            assert all(m["val_r2"] is not None for m in metrics)
        else:
            assert all(m["train_r2"] is None and 0 <= m["val_acc"] <= 1 for m in metrics)
    assert client.get(f"/api/runs/{runs[0]['id']}/function?epoch=0").status_code == 422


def test_each_toy_preset_trains_an_epoch(client, settings):
    from worker.loop import Worker

    presets = client.get("/api/presets").json()
    ids = []
    for key in ("l2_article", "wd_lesson", "poly", "moons", "sparse"):
        body = {**presets[key]["experiment"], "epochs": 1}
        r = client.post("/api/experiments", json=body)
        assert r.status_code == 201, (key, r.text)
        ids.append(r.json()["id"])
    Worker(settings).run_forever(exit_when_idle=True)
    for exp_id in ids:
        exp = client.get(f"/api/experiments/{exp_id}").json()
        assert {r["status"] for r in exp["runs"]} == {"succeeded"}, exp["config"]["dataset"]
        assert all(r["epochs_done"] == 1 for r in exp["runs"])
