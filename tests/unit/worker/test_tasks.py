"""worker.tasks: toy data from the seed, the source models, the lesson reproduced exactly, and the
functional views the page draws."""

import math

import pytest
import torch
from torch import nn, optim

from worker import tasks as T

# The weight-decay lesson as written (run by exec, as its own module); only the print is changed,
# to show every digit.
LESSON = """
import torch
import torch.nn as nn
import torch.optim as optim

torch.manual_seed(0)

class SimpleNet(nn.Module):
    def __init__(self):
        super(SimpleNet, self).__init__()
        self.fc1 = nn.Linear(20, 64)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        x = self.relu(self.fc1(x))
        x = self.fc2(x)
        return x

model = SimpleNet()
X = torch.randn(1000, 20)
y = torch.randn(1000, 1)
criterion = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)

for epoch in range(5):
    optimizer.zero_grad()
    outputs = model(X)
    loss = criterion(outputs, y)
    loss.backward()
    optimizer.step()

print(f"Final training loss: {loss.item()!r}")
"""


def _tensors(data: T.TaskData) -> list[torch.Tensor]:
    extras = [v for v in data.extras.values() if isinstance(v, torch.Tensor)]
    return [data.train.x, data.train.y, data.val.x, data.val.y, *extras]


@pytest.mark.parametrize("name", sorted(T.TASKS))
def test_same_seed_same_data_bitwise_and_the_global_rng_untouched(name):
    task = T.TASKS[name]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = task.make(7), task.make(7), task.make(8)
    assert torch.equal(torch.get_rng_state(), before)
    for x, y, z in zip(_tensors(a), _tensors(b), _tensors(c), strict=True):
        assert torch.equal(x, y)
        assert x.shape == z.shape and not torch.equal(x, z)


@pytest.mark.parametrize("name", sorted(T.TASKS))
def test_shapes_dtypes_and_defaults(name):
    task = T.TASKS[name]
    data = task.make(0)
    p = task.params
    assert len(data.train) == p["n_train"] and len(data.val) == p["n_val"]
    assert data.train.x.dtype == torch.float32 and data.train.x.shape[1] == task.in_dim
    assert T.task_dims(name) == (task.in_dim, task.out_dim)
    if task.kind == T.CLASSIFICATION:
        assert data.train.y.dtype == torch.int64 and data.train.y.shape == (p["n_train"],)
        assert set(data.train.y.tolist()) == set(range(task.out_dim))
    else:
        assert data.val.y.dtype == torch.float32 and data.val.y.shape == (p["n_val"], task.out_dim)
    idx = torch.tensor([2, 0])
    xb, yb = data.train.take(idx)
    assert torch.equal(xb, data.train.x[idx]) and torch.equal(yb, data.train.y[idx])
    model = T.build_task_model(task.model["model"], task.in_dim, task.out_dim, 0,
                               **{k: v for k, v in task.model.items() if k != "model"})  # fmt: skip
    assert model(data.val.x[:3]).shape == (3, task.out_dim)
    assert model.layer_groups()


def test_the_source_models_and_their_defaults():
    teacher, lesson = T.TASKS["linear_teacher"], T.TASKS["noise_regression"]
    model = T.build_task_model("simple_model", 10, 5, 0)
    assert [k for k in model.state_dict()] == ["linear.weight", "linear.bias"]
    assert teacher.training["optimizer"] == "sgd" and teacher.model == {"model": "simple_model"}
    assert (teacher.training["lr"], teacher.training["weight_decay"]) == (0.01, 0.01)
    net = T.build_task_model("simple_net", 20, 1, 0)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == {"fc1.weight": (64, 20), "fc1.bias": (64,), "fc2.weight": (1, 64),
                      "fc2.bias": (1,)}  # fmt: skip
    assert lesson.training == {"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-4,
                               "batch_size": None, "epochs": 5}  # fmt: skip
    mlp = T.build_task_model("mlp", 2, 2, 0, hidden=64, depth=2)
    assert [w.shape[0] for _n, w, _e in mlp.layer_groups()] == [64, 64, 2]
    with pytest.raises(ValueError, match="model must be one of"):
        T.build_task_model("cnn", 2, 2, 0)


@pytest.mark.parametrize("name", ["moons", "circles", "spiral"])
@pytest.mark.parametrize("n", [500, 77])
def test_two_classes_are_balanced(name, n):
    data = T.TASKS[name].make(1, n_train=n, n_val=n)
    for split in (data.train, data.val):
        assert torch.bincount(split.y).tolist() == [n // 2, n - n // 2]


def test_moons_and_circles_follow_sklearn_definitions_without_noise():
    m = T.TASKS["moons"].make(0, noise=0.0).train
    x0, x1 = m.x.double().T
    outer, inner = m.y == 0, m.y == 1
    # Outer moon: the upper unit half circle; inner: the lower one centred at (1, 0.5).
    assert torch.allclose(x0[outer] ** 2 + x1[outer] ** 2, torch.ones(1).double(), atol=1e-6)
    assert (x1[outer] >= -1e-6).all()
    circle = (x0[inner] - 1) ** 2 + (x1[inner] - 0.5) ** 2
    assert torch.allclose(circle, torch.ones(1).double(), atol=1e-6)
    assert (x1[inner] <= 0.5 + 1e-6).all()
    c = T.TASKS["circles"].make(0, noise=0.0, factor=0.3).train
    radius = c.x.double().norm(dim=1)
    assert torch.allclose(radius[c.y == 0], torch.ones(1).double(), atol=1e-6)
    assert torch.allclose(radius[c.y == 1], torch.full((1,), 0.3).double(), atol=1e-6)


def test_regression_targets_follow_their_laws_without_noise():
    lt = T.TASKS["linear_teacher"].make(0, noise=0.0)
    w, b = lt.extras["teacher_weight"], lt.extras["teacher_bias"]
    assert torch.allclose(lt.val.y, lt.val.x @ w.T + b, atol=1e-5)
    p = T.TASKS["poly1d"].make(0, noise=0.0)
    assert p.train.x.abs().max() <= 1.0
    assert torch.allclose(p.train.y, torch.sin(math.pi * p.train.x), atol=1e-6)
    s = T.TASKS["sparse_linear"].make(0, noise=0.0)
    beta = s.extras["true_coef"]
    nonzero = beta[beta != 0].abs()
    assert beta.shape == (50,) and len(nonzero) == 5
    assert (nonzero >= 0.5).all() and (nonzero <= 1.5).all()
    assert torch.allclose(s.train.y.squeeze(1), s.train.x @ beta, atol=1e-5)
    assert T.TASKS["sparse_linear"].make(0, k=12).extras["true_coef"].count_nonzero() == 12


def test_a_parameter_the_task_does_not_take_is_refused():
    with pytest.raises(ValueError, match="moons does not take factor; it takes n_train"):
        T.TASKS["moons"].make(0, factor=0.5)
    with pytest.raises(ValueError, match="k must lie between 1 and n_features"):
        T.TASKS["sparse_linear"].make(0, k=60)


def test_noise_regression_is_the_lessons_data_and_model():
    model, lesson = T.lesson_setup(0)
    data = T.TASKS["noise_regression"].make(0)
    for x, y in zip(_tensors(lesson), _tensors(data), strict=True):
        assert torch.equal(x, y)
    built = T.build_task_model("simple_net", 20, 1, 0)
    pairs = zip(model.state_dict().items(), built.state_dict().items(), strict=True)
    for (k, v), (k2, v2) in pairs:
        assert k == k2 and torch.equal(v, v2)
    # Drawn after the model's weights, as in the lesson: not the first numbers after the seed.
    torch.manual_seed(0)
    assert not torch.equal(data.train.x, torch.randn(1000, 20))


def test_the_lesson_reproduced_to_1e_6(capsys):
    exec(compile(LESSON, "lesson.py", "exec"), {"__name__": "__main__"})
    printed = float(capsys.readouterr().out.split("Final training loss:")[1])

    # reglab's side: the task's data, the task's model, a plain full-batch loop. The loss of the
    # fifth step (computed before that step's update) is what the lesson prints.
    data = T.TASKS["noise_regression"].make(0)
    model = T.build_task_model("simple_net", 20, 1, seed=0)
    opt = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(5):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(data.train.x), data.train.y)
        loss.backward()
        opt.step()
    assert loss.item() == pytest.approx(printed, abs=1e-6)


def test_r_squared():
    y = torch.tensor([[1.0], [2.0], [4.0]])
    assert T.r_squared(y, y) == 1.0
    assert T.r_squared(torch.full_like(y, 7 / 3), y) == pytest.approx(0.0, abs=1e-12)
    # SSE 1 + 0 + 1 over SST (16 + 1 + 25) / 9 = 42 / 9.
    assert T.r_squared(y + torch.tensor([[1.0], [0.0], [-1.0]]), y) == pytest.approx(1 - 18 / 42)


def test_poly1d_view_is_the_model_on_a_dense_grid():
    data = T.TASKS["poly1d"].make(0)
    model = T.build_task_model("mlp", 1, 1, 0, hidden=32, depth=2, dropout=0.5)
    view = T.function_view("poly1d", model, data)
    assert model.training  # eval for the view, then back
    x = torch.tensor(view["x"])
    assert len(x) == T.CURVE_POINTS and (x[1:] > x[:-1]).all()
    xs = torch.cat([data.train.x, data.val.x])
    assert x[0] < xs.min() and x[-1] > xs.max()
    model.eval()
    expected = model(x.unsqueeze(1).float()).squeeze(1).tolist()
    assert view["y"] == pytest.approx(expected, abs=2e-5)
    assert view["points"]["train"]["x"] == pytest.approx(data.train.x.squeeze(1).tolist(), abs=1e-5)
    assert "points" not in T.function_view("poly1d", model, data, points=False)


@pytest.mark.parametrize("name", ["moons", "circles", "spiral"])
def test_boundary_view_covers_the_points(name):
    data = T.TASKS[name].make(0, n_train=60, n_val=40)
    model = T.build_task_model("mlp", 2, 2, 0)
    view = T.function_view(name, model, data)
    x0, x1, prob = view["grid"]["x0"], view["grid"]["x1"], view["prob"]
    assert len(x0) == len(x1) == len(prob) == len(prob[0]) == T.GRID
    pts = torch.cat([data.train.x, data.val.x])
    assert x0[0] < pts[:, 0].min() and x0[-1] > pts[:, 0].max()
    assert x1[0] < pts[:, 1].min() and x1[-1] > pts[:, 1].max()
    assert all(0.0 <= p <= 1.0 for row in prob for p in row)
    i, j = 5, 40  # prob[i][j] is the class-1 probability at (x0[j], x1[i])
    with torch.no_grad():
        p = torch.softmax(model(torch.tensor([[x0[j], x1[i]]])), 1)[0, 1].item()
    assert prob[i][j] == pytest.approx(p, abs=1e-4)
    assert view["points"]["val"]["y"] == data.val.y.tolist()
    assert len(view["points"]["train"]["x"]) == 60 and len(view["points"]["train"]["x"][0]) == 2


def test_the_default_mlp_learns_moons():
    data = T.TASKS["moons"].make(0)
    model = T.build_task_model("mlp", 2, 2, 0, hidden=64, depth=2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(data.train.x), data.train.y).backward()
        opt.step()
    with torch.no_grad():
        acc = (model(data.val.x).argmax(1) == data.val.y).float().mean().item()
    assert acc > 0.9


def test_sparse_view_and_support_recovery_by_hand():
    data = T.TASKS["sparse_linear"].make(0)
    true = data.extras["true_coef"]
    support = true.nonzero().flatten()
    model = T.build_task_model("simple_model", 50, 1, 0)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.weight[0, support[:3]] = 1.0  # 3 of the 5 true features found
        off = [i for i in range(50) if true[i] == 0][:2]
        model.linear.weight[0, off] = 0.5  # and 2 false ones
        model.linear.weight[0, support[3]] = T.SUPPORT_THRESHOLD / 2  # below: counts as zero
    view = T.function_view("sparse_linear", model, data)
    assert view["precision"] == pytest.approx(3 / 5) and view["recall"] == pytest.approx(3 / 5)
    assert view["coef"] == pytest.approx(model.linear.weight[0].tolist(), abs=1e-5)
    assert view["true_coef"] == pytest.approx(true.tolist(), abs=1e-5)
    with torch.no_grad():
        model.linear.weight.zero_()
    empty = T.function_view("sparse_linear", model, data)
    assert empty["precision"] is None and empty["recall"] == 0.0
    with pytest.raises(ValueError, match="linear model"):
        T.function_view("sparse_linear", T.build_task_model("mlp", 50, 1, 0), data)
    with pytest.raises(ValueError, match="no function view"):
        T.function_view("noise_regression", model, T.TASKS["noise_regression"].make(0))
