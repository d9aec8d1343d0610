"""worker.train on toy tasks: the lesson reproduced through reglab's own loop, the stacked engine
with MSE against autograd one arm at a time, R^2 and null accuracies, the views' budget."""

import dataclasses

import pytest
import torch

from store.spec import TASK, TASKS, task_defaults
from tests.unit.worker.test_tasks import LESSON
from worker import lockstep
from worker import tasks as T
from worker.config import TrainConfig
from worker.losses import MSE
from worker.train import ViewBudget, load_data, load_task, train

CPU = torch.device("cpu")


def toy(name: str, **kw) -> TrainConfig:
    """An arm on a toy task with the task's defaults, as the API would store it."""
    return TrainConfig(dataset=name, **{**task_defaults(TASK[name], kw), **kw})


def fit(cfgs: list[TrainConfig], stacked: bool = False, views: bool = False):
    tr, va = load_data(cfgs[0], None, False, CPU)
    reports = []
    task = load_task(cfgs[0]) if views else None
    results = train(cfgs, tr, va, CPU, reports.append, stacked=stacked, task=task)
    return results, reports


def test_the_lesson_through_reglabs_loop_to_1e_6(capsys):
    exec(compile(LESSON, "lesson.py", "exec"), {"__name__": "__main__"})
    printed = float(capsys.readouterr().out.split("Final training loss:")[1])
    # The lesson's weight_decay acts on every parameter: penalize_bias.
    cfg = toy("noise_regression", epochs=5, seed=0, weight_decay=1e-4, penalize_bias=True)
    assert (cfg.model, cfg.optimizer, cfg.lr, cfg.batch_size) == ("simple_net", "adam", 0.01, 1000)
    _, reports = fit([cfg])
    assert reports[-1][0].epoch == 5
    assert reports[-1][0].metrics["train_loss"] == pytest.approx(printed, abs=1e-6)


def test_regression_reports_r2_and_no_accuracy():
    cfg = toy("linear_teacher", epochs=3)
    (result,), reports = fit([cfg])
    m = reports[-1][0].metrics
    assert m["train_acc"] is None and m["val_acc"] is None
    data = load_task(cfg)
    with torch.no_grad():
        r2 = T.r_squared(result.model(data.val.x), data.val.y)
    assert m["val_r2"] == pytest.approx(r2, abs=1e-6)
    assert reports[-1][0].view is None  # linear_teacher draws nothing


@pytest.mark.parametrize("name", ["poly1d", "moons"])
def test_stacked_toy_arms_equal_autograd_one_by_one(name):
    arms = [
        toy(name, epochs=3, hidden=16, arm="a"),
        toy(name, epochs=3, hidden=16, arm="b", l2=1e-2),
    ]
    arms.append(dataclasses.replace(arms[1], arm="c", weight_decay=1e-3, l2=0.0))
    assert len({lockstep.lockstep_key(c) for c in arms}) == 1
    stacked, s_reports = fit(arms, stacked=True)
    for a, cfg in enumerate(arms):
        (alone,), a_reports = fit([cfg])
        for sr, ar in zip(s_reports, a_reports, strict=True):
            for key in ("train_loss", "val_loss", "val_acc", "val_r2"):
                want, got = ar[0].metrics[key], sr[a].metrics[key]
                assert (want is None) == (got is None), key
                if want is not None:
                    assert got == pytest.approx(want, abs=1e-5), (name, a, key)
        for k, v in alone.model.state_dict().items():
            assert torch.allclose(stacked[a].model.state_dict()[k], v, atol=1e-5), k


def test_mse_matches_autograd_and_torch():
    out = torch.randn(3, 7, 2, requires_grad=True)
    y = torch.randn(7, 2)
    loss, grad = MSE.means_and_grad(out.detach().clone(), y)
    MSE.means(out, y).sum().backward()
    assert torch.allclose(grad, out.grad, atol=1e-6)
    assert torch.allclose(loss, torch.stack([torch.nn.functional.mse_loss(o, y) for o in out]))
    assert torch.allclose(MSE.sums(out, y) / 7, loss)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.key)
def test_group_limit_takes_toy_tasks(task):
    cfg = toy(task.key, model="mlp", hidden=64, depth=2)
    assert lockstep.lockstep_key(cfg) is not None
    assert lockstep.group_limit(cfg, CPU, 16) == 16  # tiny: a whole sweep fits any cache


def test_views_first_last_and_within_budget():
    budget = ViewBudget(first=1, last=10)
    assert budget.due(1, 0.1)
    budget.spent(1.0)  # a view costing ten epochs: next due after 20 s of training
    assert not any(budget.due(e, 1.0) for e in range(2, 10))
    assert budget.due(10, 1.0)
    cfg = toy("moons", epochs=3, n_train=40, n_val=20, hidden=8)
    _, reports = fit([cfg], views=True)
    assert reports[0][0].view is not None and reports[0][0].points is not None
    assert reports[-1][0].view is not None and reports[-1][0].points is None


def test_the_spec_and_the_tasks_agree():
    for task in TASKS:
        mine = T.TASKS[task.key]
        assert (mine.kind, mine.in_dim, mine.out_dim) == (task.kind, task.in_dim, task.out_dim)
        assert mine.params == task.params
        assert mine.model["model"] == task.defaults["model"]
        assert (task.view is not None) == (task.key in ("poly1d", "moons", "circles", "spiral",
                                                        "sparse_linear"))  # fmt: skip
