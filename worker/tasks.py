"""Toy tasks: data generated from the experiment's seed, their default models, and the functional
views (fitted curve, decision boundary, coefficients) the page draws.

Same seed, same data, bitwise: every generator draws from its own `torch.Generator` seeded with
the experiment's seed, so it neither reads nor disturbs the global RNG that seeds the models.
The one exception is `noise_regression`, which must reproduce the weight-decay lesson's order
(`torch.manual_seed(seed)`, build `SimpleNet`, `X = randn`, `y = randn` from the global RNG):
it replays that order inside `torch.random.fork_rng`, so its data is the lesson's for any
network the arm trains, and the caller's RNG state is left as it was.

Splits are `worker.data.Split`s holding float32 inputs (N, in_dim); targets are float32 (N, out_dim)
for regression and int64 class indices (N,) for classification.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from worker.data import Split
from worker.models import SimpleModel, SimpleNet, build_model

REGRESSION = "regression"
CLASSIFICATION = "classification"
GRID = 64  # boundary grids are GRID x GRID: <= 64x64 per arm-epoch
CURVE_POINTS = 200  # points on a fitted 1-D curve
MARGIN = 0.1  # grids and curves extend this fraction of the data's range past it on each side
SUPPORT_THRESHOLD = 1e-2  # |coef| above this counts as non-zero (true ones are >= 0.5)
ROUND = 5  # digits kept in views: compact to store, and exactly reproducible from a checkpoint


MODELS = ("simple_model", "simple_net", "mlp")


def build_task_model(
    kind: str,
    in_dim: int,
    out_dim: int,
    seed: int,
    hidden: int = 64,
    depth: int = 2,
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Module:
    """A toy task's model (worker.models.build_model: seeded right before construction, so
    every arm starts from bitwise-equal weights). "mlp" is the project's FullyConnected."""
    if kind not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)} for a toy task, not {kind!r}")
    return build_model(kind, (in_dim,), out_dim, hidden, seed, depth, dropout, batchnorm)


# --- Tasks ---------------------------------------------------------------------------------------


@dataclass
class TaskData:
    train: Split
    val: Split
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. true_coef, teacher weights


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # REGRESSION (MSE loss, R^2) or CLASSIFICATION (cross-entropy, accuracy)
    in_dim: int
    out_dim: int  # regression: target width; classification: number of classes
    params: dict[str, Any]  # the data's parameters and their defaults
    model: dict[str, Any]  # default model: kind plus hidden/depth where they apply
    training: dict[str, Any]  # default optimizer, lr, weight_decay, epochs; batch_size None = full
    generate: Callable[..., TaskData]

    def make(self, seed: int, **params: Any) -> TaskData:
        """The task's data for this seed; a parameter the task does not take is refused."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            takes = ", ".join(self.params) or "nothing"
            raise ValueError(f"{self.name} does not take {', '.join(unknown)}; it takes {takes}")
        return self.generate(seed, **(self.params | params))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _regression(x: torch.Tensor, y: torch.Tensor) -> Split:
    return Split(x=x.to(torch.float32), y=y.to(torch.float32))


def linear_teacher(seed: int, n_train: int, n_val: int, noise: float) -> TaskData:
    """Inputs in R^10, targets in R^5 = W x + b + noise, W and b fixed from the seed."""
    g = _gen(seed)
    w = torch.randn(5, 10, generator=g) / math.sqrt(10)
    b = torch.randn(5, generator=g)

    def draw(n: int) -> Split:
        x = torch.randn(n, 10, generator=g)
        return _regression(x, x @ w.T + b + noise * torch.randn(n, 5, generator=g))

    train = draw(n_train)
    return TaskData(train, draw(n_val), {"teacher_weight": w, "teacher_bias": b})


def lesson_setup(
    seed: int = 0, n_train: int = 1000, n_val: int = 1000, n_features: int = 20
) -> tuple[SimpleNet, TaskData]:
    """The lesson's exact order on the global RNG: seed, build SimpleNet, X, y; then the
    held-out set drawn the same way. Returns the model so built and the data."""
    torch.manual_seed(seed)
    model = SimpleNet(n_features)
    x = torch.randn(n_train, n_features)
    y = torch.randn(n_train, 1)
    x_val = torch.randn(n_val, n_features)
    y_val = torch.randn(n_val, 1)
    return model, TaskData(_regression(x, y), _regression(x_val, y_val))


def noise_regression(seed: int, n_train: int, n_val: int, n_features: int) -> TaskData:
    """X ~ N(0, 1), y ~ N(0, 1), independent: anything learned is memorisation. The lesson's
    data for the seed, without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        return lesson_setup(seed, n_train, n_val, n_features)[1]


def poly1d(seed: int, n_train: int, n_val: int, noise: float) -> TaskData:
    """Noisy samples of sin(pi x) at uniform x in [-1, 1]; held-out points from the same law."""
    g = _gen(seed)

    def draw(n: int) -> Split:
        x = torch.rand(n, 1, generator=g) * 2 - 1
        return _regression(x, torch.sin(math.pi * x) + noise * torch.randn(n, 1, generator=g))

    train = draw(n_train)
    return TaskData(train, draw(n_val))


def _two_class(g: torch.Generator, a: torch.Tensor, b: torch.Tensor, noise: float) -> Split:
    """Class 0 at points a, class 1 at points b, shuffled, plus N(0, noise^2) on each coordinate."""
    x = torch.cat([a, b])
    y = torch.cat([torch.zeros(len(a), dtype=torch.int64), torch.ones(len(b), dtype=torch.int64)])
    order = torch.randperm(len(x), generator=g)
    x, y = x[order], y[order]
    return Split(x=(x + noise * torch.randn(x.shape, generator=g)).to(torch.float32), y=y)


def _arcs(n: int, stop: float, endpoint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles in [0, stop] (stop left out unless endpoint) for n // 2 and n - n // 2 points."""

    def angles(m: int) -> torch.Tensor:
        step = stop / (m - 1 if endpoint and m > 1 else m)
        return torch.arange(m, dtype=torch.float64) * step

    return angles(n // 2), angles(n - n // 2)


def _moons(g: torch.Generator, n: int, noise: float) -> Split:
    # sklearn.datasets.make_moons: n // 2 on the outer moon (class 0), the rest on the inner one.
    t_out, t_in = _arcs(n, math.pi, endpoint=True)
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], 1)
    inner = torch.stack([1 - torch.cos(t_in), 1 - torch.sin(t_in) - 0.5], 1)
    return _two_class(g, outer, inner, noise)


def _circles(g: torch.Generator, n: int, noise: float, factor: float) -> Split:
    # sklearn.datasets.make_circles: n // 2 on the outer circle (class 0), the rest on the inner
    # one of radius factor; points evenly spaced, the end point left out.
    t_out, t_in = _arcs(n, 2 * math.pi, endpoint=False)
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], 1)
    inner = factor * torch.stack([torch.cos(t_in), torch.sin(t_in)], 1)
    return _two_class(g, outer, inner, noise)


def _spiral(g: torch.Generator, n: int, noise: float, turns: float) -> Split:
    # Two interleaved arms (TensorFlow Playground's spiral): radius r in [0, 1], angle
    # 2 pi turns r, the second arm rotated by pi.
    def arm(m: int, shift: float) -> torch.Tensor:
        r = torch.arange(m, dtype=torch.float64) / m
        t = 2 * math.pi * turns * r + shift
        return torch.stack([r * torch.sin(t), r * torch.cos(t)], 1)

    return _two_class(g, arm(n // 2, 0.0), arm(n - n // 2, math.pi), noise)


def _points_task(shape: Callable[..., Split]) -> Callable[..., TaskData]:
    """A 2-D task from its point-set shape: training and held-out sets drawn one after another."""

    def generate(seed: int, n_train: int, n_val: int, noise: float, **shape_args: Any) -> TaskData:
        g = _gen(seed)
        train = shape(g, n_train, noise, **shape_args)
        return TaskData(train, shape(g, n_val, noise, **shape_args))

    return generate


def sparse_linear(
    seed: int, n_train: int, n_val: int, n_features: int, k: int, noise: float
) -> TaskData:
    """y = X beta + noise, X ~ N(0, 1) of n x d, beta non-zero on k random features (magnitude
    uniform in [0.5, 1.5], random sign). extras["true_coef"] is beta (float32, (d,))."""
    if not 0 < k <= n_features:
        raise ValueError(f"k must lie between 1 and n_features ({n_features}), not {k}")
    g = _gen(seed)
    support = torch.randperm(n_features, generator=g)[:k]
    beta = torch.zeros(n_features, dtype=torch.float32)
    sign = torch.randint(0, 2, (k,), generator=g).to(torch.float32) * 2 - 1
    beta[support] = sign * (0.5 + torch.rand(k, generator=g))

    def draw(n: int) -> Split:
        x = torch.randn(n, n_features, generator=g)
        y = x @ beta + noise * torch.randn(n, generator=g)
        return _regression(x, y.unsqueeze(1))

    train = draw(n_train)
    return TaskData(train, draw(n_val), {"true_coef": beta})


_MLP = {"model": "mlp", "hidden": 64, "depth": 2}
_ADAM_FULL = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "batch_size": None}
_POINTS = {"n_train": 500, "n_val": 500}

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "linear_teacher", REGRESSION, 10, 5,
            {"n_train": 200, "n_val": 200, "noise": 0.1},
            {"model": "simple_model"},
            {"optimizer": "sgd", "lr": 0.01, "weight_decay": 0.01, "batch_size": None,
             "epochs": 100},
            linear_teacher,
        ),
        Task(
            "noise_regression", REGRESSION, 20, 1,
            {"n_train": 1000, "n_val": 1000, "n_features": 20},
            {"model": "simple_net", "hidden": 64},
            {"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-4, "batch_size": None,
             "epochs": 5},
            noise_regression,
        ),
        Task(
            "poly1d", REGRESSION, 1, 1,
            {"n_train": 20, "n_val": 200, "noise": 0.1},
            {"model": "mlp", "hidden": 128, "depth": 2},
            _ADAM_FULL | {"epochs": 500},
            poly1d,
        ),
        Task("moons", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.2}, _MLP,
             _ADAM_FULL | {"epochs": 300}, _points_task(_moons)),
        Task("circles", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.1, "factor": 0.5}, _MLP,
             _ADAM_FULL | {"epochs": 300}, _points_task(_circles)),
        Task("spiral", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.05, "turns": 1.75}, _MLP,
             _ADAM_FULL | {"epochs": 500}, _points_task(_spiral)),
        Task(
            "sparse_linear", REGRESSION, 50, 1,
            {"n_train": 100, "n_val": 100, "n_features": 50, "k": 5, "noise": 0.1},
            {"model": "simple_model"},
            _ADAM_FULL | {"epochs": 300},
            sparse_linear,
        ),
    )
}  # fmt: skip


def task_dims(name: str, params: dict[str, Any] | None = None) -> tuple[int, int]:
    """(in_dim, out_dim) of a task with these parameters (n_features changes in_dim)."""
    task = TASKS[name]
    features = (params or {}).get("n_features", task.params.get("n_features"))
    return (features if features is not None else task.in_dim), task.out_dim


def r_squared(pred: torch.Tensor, target: torch.Tensor) -> float:
    """1 - SSE / SST over all outputs: 1 for a perfect fit, 0 for predicting the target's mean."""
    pred, target = pred.double(), target.double()
    sst = (target - target.mean(0)).pow(2).sum()
    return float(1 - (pred - target).pow(2).sum() / sst) if sst > 0 else float("nan")


# --- Functional views ----------------------------------------------------------------------------


def _rounded(t: torch.Tensor) -> list:
    return torch.round(t.detach().double().cpu(), decimals=ROUND).tolist()


def _span(x: torch.Tensor, n: int) -> torch.Tensor:
    """n evenly spaced values covering x's range plus MARGIN of it on each side."""
    lo, hi = float(x.min()), float(x.max())
    pad = MARGIN * (hi - lo if hi > lo else 1.0)
    return torch.linspace(lo - pad, hi + pad, n, dtype=torch.float32)


def _values(t: torch.Tensor) -> list:
    """A 1-D task's inputs or targets as a flat list, 2-D inputs as pairs, classes as ints."""
    t = t.squeeze(1) if t.ndim == 2 and t.shape[1] == 1 else t
    return t.tolist() if not t.is_floating_point() else _rounded(t)


def data_points(data: TaskData) -> dict[str, Any]:
    """The points a view is drawn over: {"train": {"x": ..., "y": ...}, "val": ...}."""
    return {
        name: {"x": _values(s.x), "y": _values(s.y)}
        for name, s in (("train", data.train), ("val", data.val))
    }


def _support(coef: torch.Tensor, true_coef: torch.Tensor) -> dict[str, float | None]:
    """Precision and recall of the non-zero coefficients (|c| > SUPPORT_THRESHOLD) against the
    true support; precision is None when no coefficient counts as non-zero."""
    found, true = coef.abs() > SUPPORT_THRESHOLD, true_coef != 0
    hits = int((found & true).sum())
    n_found, n_true = int(found.sum()), int(true.sum())
    return {
        "precision": hits / n_found if n_found else None,
        "recall": hits / n_true if n_true else None,
        "threshold": SUPPORT_THRESHOLD,
    }


@torch.no_grad()
def _view(task: str, model: nn.Module, data: TaskData, device: torch.device) -> dict[str, Any]:
    both = torch.cat([data.train.x, data.val.x]).to(torch.float32)
    if task == "poly1d":
        x = _span(both[:, 0], CURVE_POINTS)
        return {"x": _rounded(x), "y": _rounded(model(x.to(device).unsqueeze(1)).squeeze(1))}
    if TASKS[task].kind == CLASSIFICATION and TASKS[task].in_dim == 2:
        x0, x1 = _span(both[:, 0], GRID), _span(both[:, 1], GRID)
        # Row i, column j is the point (x0[j], x1[i]): rows run along x1, as a heatmap's z.
        g1, g0 = torch.meshgrid(x1, x0, indexing="ij")
        grid = torch.stack([g0.reshape(-1), g1.reshape(-1)], 1).to(device)
        prob = torch.softmax(model(grid).double(), 1)[:, 1].reshape(GRID, GRID)
        return {"grid": {"x0": _rounded(x0), "x1": _rounded(x1)}, "prob": _rounded(prob)}
    if task == "sparse_linear":
        if not isinstance(model, SimpleModel):
            raise ValueError("coefficients are drawn for the linear model (simple_model) only")
        coef = model.linear.weight.detach().reshape(-1).cpu()
        true = data.extras["true_coef"]
        return {"coef": _rounded(coef), "true_coef": _rounded(true)} | _support(coef, true)
    raise ValueError(f"{task} has no function view")


def function_view(
    task: str, model: nn.Module, data: TaskData, points: bool = True
) -> dict[str, Any]:
    """What the page draws of the model now, computed on the model's device in eval mode:
    poly1d {"x", "y"} (the fitted curve on a dense grid); moons/circles/spiral {"grid": {"x0",
    "x1"}, "prob"} (class-1 probability, GRID x GRID, prob[i][j] at (x0[j], x1[i])); sparse_linear
    {"coef", "true_coef", "precision", "recall", "threshold"}. With points, also "points" (the
    training and held-out data), which do not change between epochs."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        view = _view(task, model, data, device)
    finally:
        model.train(was_training)
    if points and task != "sparse_linear":
        view["points"] = data_points(data)
    return view
