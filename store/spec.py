"""The experiment spec: every setting, dataset and measurement declared once.

Built from it: the API models (app.schemas), the form (app.forms, templates/_form.html), the
worker's TrainConfig (worker.config), the work estimate (app.limits), the docs' settings table
(`settings_table`) and the lockstep engine's list of fields arms may differ in. Adding a setting is
one entry in SETTINGS plus its use in training.

Pure Python: both the web side and the worker import it (tests/integration/test_boundary.py).
"""

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    shared = "shared"  # one value for every arm of an experiment
    arm = "arm"  # each arm its own (the regularization being compared)


class Kind(StrEnum):
    int = "int"
    float = "float"
    bool = "bool"
    choice = "choice"  # one key of `choices`
    floats = "floats"  # a list of floats, e.g. one per weight matrix; bounds apply to each


class Group(StrEnum):
    """Where the form shows a setting."""

    data = "data"  # "Data and model"
    training = "training"  # "Training"
    arm = "arm"  # the arm's row in the arms table
    arm_more = "arm_more"  # the arm's "More" drawer


@dataclass(frozen=True)
class Dataset:
    key: str
    label: str
    shape: tuple[int, int, int]  # (channels, height, width) of one image
    classes: int
    train_size: int  # images in the training split
    test_size: int  # images in the test split (validation images are taken from it)


DATASETS: tuple[Dataset, ...] = (
    Dataset("mnist", "MNIST", (1, 28, 28), 10, 60_000, 10_000),
    Dataset("fashion_mnist", "FashionMNIST", (1, 28, 28), 10, 60_000, 10_000),
    Dataset("kmnist", "KMNIST", (1, 28, 28), 10, 60_000, 10_000),
    Dataset("cifar10", "CIFAR-10", (3, 32, 32), 10, 50_000, 10_000),
)
DATASET: dict[str, Dataset] = {d.key: d for d in DATASETS}

REGRESSION = "regression"
CLASSIFICATION = "classification"


@dataclass(frozen=True)
class Task:
    """A toy task (the API's `dataset` too): data generated from the experiment's seed.

    `params`: its data settings and their defaults (the settings of the same names apply to it);
    `defaults`: what an experiment on it trains when the request leaves a setting out (model,
    size, optimizer, epochs; full batch). `view`: what the page draws of each arm ("curve",
    "boundary", "coef") or None. worker/tasks.py generates the data from these facts."""

    key: str
    label: str
    kind: str  # REGRESSION (MSE, R^2) or CLASSIFICATION (cross-entropy, accuracy)
    in_dim: int  # inputs; n_features where the task takes it
    out_dim: int  # regression: target width; classification: classes
    params: dict[str, Any]
    defaults: dict[str, Any]
    view: str | None

    def input_dim(self, n_features: int | None = None) -> int:
        return n_features if "n_features" in self.params and n_features else self.in_dim


_MLP = {"model": "mlp", "hidden": 64, "depth": 2}
_ADAM = {"optimizer": "adam", "lr": 0.01}
_POINTS = {"n_train": 500, "n_val": 500}
TASKS: tuple[Task, ...] = (
    Task("linear_teacher", "Linear teacher (R^10 -> R^5)", REGRESSION, 10, 5,
         {"n_train": 200, "n_val": 200, "noise": 0.1},
         {"model": "simple_model", "optimizer": "sgd", "lr": 0.01, "epochs": 100}, None),
    Task("noise_regression", "Pure noise regression (the lesson)", REGRESSION, 20, 1,
         {"n_train": 1000, "n_val": 1000, "n_features": 20},
         {"model": "simple_net", "hidden": 64, **_ADAM, "epochs": 5}, None),
    Task("poly1d", "1-D curve fit", REGRESSION, 1, 1,
         {"n_train": 20, "n_val": 200, "noise": 0.1},
         {"model": "mlp", "hidden": 128, "depth": 2, **_ADAM, "epochs": 500}, "curve"),
    Task("moons", "Two moons", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.2},
         _MLP | _ADAM | {"epochs": 300}, "boundary"),
    Task("circles", "Two circles", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.1, "factor": 0.5},
         _MLP | _ADAM | {"epochs": 300}, "boundary"),
    Task("spiral", "Two spirals", CLASSIFICATION, 2, 2, _POINTS | {"noise": 0.05, "turns": 1.75},
         _MLP | _ADAM | {"epochs": 500}, "boundary"),
    Task("sparse_linear", "Sparse linear regression", REGRESSION, 50, 1,
         {"n_train": 100, "n_val": 100, "n_features": 50, "k": 5, "noise": 0.1},
         {"model": "simple_model", **_ADAM, "epochs": 300}, "coef"),
)  # fmt: skip
TASK: dict[str, Task] = {t.key: t for t in TASKS}
IMAGE_DATASETS = frozenset(DATASET)
TOY_TASKS = frozenset(TASK)
# Which models each dataset takes: the CNN needs images; the source texts' models (one linear
# layer; Linear-ReLU-Linear) take a toy task's vector inputs; the fully connected network both.
MODEL_DATASETS: dict[str, frozenset[str]] = {
    "mlp": IMAGE_DATASETS | TOY_TASKS,
    "cnn": IMAGE_DATASETS,
    "simple_model": TOY_TASKS,
    "simple_net": TOY_TASKS,
}


def task_defaults(task: Task, given: dict[str, Any]) -> dict[str, Any]:
    """The settings an experiment on `task` takes from the task where the request has none
    (left out, or null/blank): its data parameters, model and training defaults, and full
    batch (batch_size = n_train)."""
    out = {**task.params, **task.defaults}
    out["batch_size"] = given.get("n_train") or task.params["n_train"]
    return {k: v for k, v in out.items() if given.get(k) is None}


def _tasks_with(param: str) -> frozenset[str]:
    return frozenset(t.key for t in TASKS if param in t.params)


MAX_LAYERS = 9  # weight matrices of the deepest model (an mlp of 8 hidden layers)
MAX_ARMS = 16
MAX_REPEATS = 20
# Runs one experiment may queue: arms x repeats (a sweep's grid points count as arms).
MAX_RUNS = 64


@dataclass(frozen=True)
class Setting:
    """One setting of an experiment or of an arm.

    `label` is its full name (the form's accessible name, the docs); `short` the caption where the
    form has little room (the arms table's header, a checkbox, the "More" drawer); `hint` the
    form's note under the field; `help` the API's description and the docs' text.
    """

    name: str
    kind: Kind
    default: Any
    label: str
    help: str = ""
    scope: Scope = Scope.shared
    group: Group = Group.training
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: dict[str, str] | None = None  # key -> label, in the order the form lists them
    nullable: bool = False  # None is a value (blank in the form), e.g. "the whole split"
    max_items: int | None = None  # Kind.floats only
    short: str = ""
    hint: str = ""
    placeholder: str = ""
    # Where it has an effect; None: every dataset / model. A setting for a new task names its
    # datasets here, and the docs say so.
    datasets: frozenset[str] | None = None
    models: frozenset[str] | None = None
    # Arms that differ only in settings with lockstep=True still train as one stacked computation
    # (worker.lockstep); every other setting must be equal between them.
    lockstep: bool = False
    # Set on an arm's override of a shared setting: the shared setting's name. The arm's value
    # (None: as the experiment) replaces the experiment's in the worker's config.
    overrides: str | None = None

    @property
    def caption(self) -> str:
        return self.short or self.label

    @property
    def per_arm(self) -> bool:
        return self.scope == Scope.arm


def override(base: Setting, label: str, help: str, short: str, group: Group) -> Setting:
    """An arm's choice of a shared setting: same type and bounds, default None (as the
    experiment's)."""
    return replace(
        base,
        scope=Scope.arm,
        group=group,
        default=None,
        nullable=True,
        label=label,
        help=help,
        short=short,
        hint="",
        overrides=base.name,
        lockstep=False,
    )


LAMBDA = {"ge": 0, "le": 1}
OPTIMIZER = Setting(
    "optimizer",
    Kind.choice,
    "adam",
    "Optimizer",
    "The optimizer of every arm (an arm may choose its own).",
    choices={"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"},
)
SHARED_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "dataset",
        Kind.choice,
        "mnist",
        "Dataset",
        "The image dataset (validation images come from its test split), or a toy task whose "
        "data is generated from the seed.",
        group=Group.data,
        choices={d.key: d.label for d in DATASETS} | {t.key: t.label for t in TASKS},
    ),
    Setting(
        "train_per_class",
        Kind.int,
        100,
        "Training images per class",
        "Training images per class; null for the whole split.",
        group=Group.data,
        ge=1,
        le=6000,
        nullable=True,
        hint="blank: the whole training split",
        datasets=IMAGE_DATASETS,
    ),
    Setting(
        "val_per_class",
        Kind.int,
        300,
        "Validation images per class",
        "Validation images per class from the test split.",
        group=Group.data,
        ge=1,
        le=1000,
        nullable=True,
        hint="from the test split; blank: all of it",
        datasets=IMAGE_DATASETS,
    ),
    Setting(
        "model",
        Kind.choice,
        "mlp",
        "Model",
        "mlp: the tutorial's network; simple_model: the L2 article's one linear layer; "
        "simple_net: the weight-decay lesson's Linear-ReLU-Linear (toy tasks).",
        group=Group.data,
        choices={
            "mlp": "Fully connected",
            "cnn": "Small CNN",
            "simple_model": "SimpleModel (one linear layer)",
            "simple_net": "SimpleNet (Linear, ReLU, Linear)",
        },
        hint="fully connected: the tutorial's 784 → hidden → 10",
    ),
    Setting(
        "hidden",
        Kind.int,
        500,
        "Hidden units",
        "Width of the hidden layer(s).",
        group=Group.data,
        ge=1,
        le=4096,
        models=frozenset({"mlp", "cnn", "simple_net"}),
    ),
    Setting(
        "depth",
        Kind.int,
        1,
        "Hidden layers",
        "Hidden layers (mlp).",
        group=Group.data,
        ge=1,
        le=MAX_LAYERS - 1,
        hint="fully connected only",
        models=frozenset({"mlp"}),
    ),
    OPTIMIZER,
    Setting("lr", Kind.float, 1e-3, "Learning rate", "The optimizer's learning rate.", gt=0, le=1),
    Setting(
        "momentum",
        Kind.float,
        0.0,
        "Momentum",
        "SGD momentum.",
        ge=0,
        lt=1,
        hint="SGD only",
    ),
    Setting("batch_size", Kind.int, 32, "Batch size", "Training images per step.", ge=1, le=4096),
    Setting("epochs", Kind.int, 20, "Epochs", "Passes over the training images.", ge=1, le=2000),
    Setting(
        "seed",
        Kind.int,
        0,
        "Seed",
        "Seeds the data subset, the initial weights and the batch order.",
        ge=0,
        le=2**31 - 1,
    ),
    Setting(
        "precision",
        Kind.choice,
        "fp32",
        "Precision",
        "bf16: mixed precision (autocast) in training's forward and backward; weights, optimizer "
        "and evaluation stay fp32. Fast on GPUs with bfloat16 (Ampere and later); slower on most "
        "CPUs.",
        choices={"fp32": "fp32", "bf16": "bf16 mixed (GPU)"},
        hint="bf16: autocast in training; weights and evaluation stay fp32",
    ),
    Setting(
        "repeats",
        Kind.int,
        1,
        "Repeats",
        "Trains each arm once per seed: seed, seed+1, ..., seed+repeats-1. Within one seed the "
        "arms share initial weights and batches; the summary gives means and 95 % intervals over "
        f"seeds. At most {MAX_RUNS} runs (arms x repeats) per experiment.",
        ge=1,
        le=MAX_REPEATS,
        hint=f"one run per arm and seed; at most {MAX_RUNS} runs in all",
    ),
)


def _task_setting(name: str, kind: Kind, label: str, help: str, **bounds: Any) -> Setting:
    """A toy task's data parameter: None (blank) takes the task's default."""
    return Setting(
        name, kind, None, label, help, group=Group.data, nullable=True,
        hint="blank: the task's default", datasets=_tasks_with(name), **bounds,
    )  # fmt: skip


TASK_SETTINGS: tuple[Setting, ...] = (
    _task_setting("n_train", Kind.int, "Training points", "Training examples generated.", ge=2,
                  le=5000),
    _task_setting("n_val", Kind.int, "Held-out points", "Held-out examples, drawn the same way.",
                  ge=1, le=5000),
    _task_setting("noise", Kind.float, "Noise", "Standard deviation of the noise.", ge=0, le=5),
    _task_setting("n_features", Kind.int, "Features", "Input features.", ge=1, le=1000),
    _task_setting("k", Kind.int, "Informative features",
                  "Features the targets depend on (at most n_features).", ge=1, le=1000),
    _task_setting("factor", Kind.float, "Inner radius", "The inner circle's radius.", gt=0, lt=1),
    _task_setting("turns", Kind.float, "Turns", "Turns of each spiral arm.", gt=0, le=5),
)  # fmt: skip
SHARED_SETTINGS += TASK_SETTINGS

ARM_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "l1",
        Kind.float,
        0.0,
        "L1 lambda",
        "L1 penalty strength: adds lambda·Σ|W| over weight matrices to the loss; 0 turns it off.",
        Scope.arm,
        Group.arm,
        short="L1 λ",
        lockstep=True,
        **LAMBDA,
    ),
    Setting(
        "l2",
        Kind.float,
        0.0,
        "L2 lambda",
        "L2 penalty strength: adds lambda·ΣW² over weight matrices to the loss; 0 turns it off.",
        Scope.arm,
        Group.arm,
        short="L2 λ",
        lockstep=True,
        **LAMBDA,
    ),
    Setting(
        "l1_layers",
        Kind.floats,
        None,
        "L1 per layer",
        "Per weight matrix L1 lambdas, in model order; replaces l1 when given.",
        Scope.arm,
        Group.arm_more,
        nullable=True,
        max_items=MAX_LAYERS,
        placeholder="e.g. 1e-4, 0",
        lockstep=True,
        **LAMBDA,
    ),
    Setting(
        "l2_layers",
        Kind.floats,
        None,
        "L2 per layer",
        "Per weight matrix L2 lambdas, in model order; replaces l2 when given.",
        Scope.arm,
        Group.arm_more,
        nullable=True,
        max_items=MAX_LAYERS,
        placeholder="e.g. 0, 1e-3",
        lockstep=True,
        **LAMBDA,
    ),
    override(
        OPTIMIZER,
        "Optimizer for this arm",
        "Overrides the experiment's optimizer for this arm.",
        "Optimizer",
        Group.arm_more,
    ),
    Setting(
        "penalize_bias",
        Kind.bool,
        False,
        "Penalize biases and norm parameters too",
        "Penalize biases and normalization parameters too (default: weights).",
        Scope.arm,
        Group.arm_more,
        lockstep=True,
    ),
    Setting(
        "prox_l1",
        Kind.float,
        0.0,
        "Proximal L1 lambda",
        "Proximal L1: soft-threshold weights by lr·lambda after each step.",
        Scope.arm,
        Group.arm,
        short="Prox L1 λ",
        lockstep=True,
        **LAMBDA,
    ),
    Setting(
        "weight_decay",
        Kind.float,
        0.0,
        "Weight decay",
        "The optimizer's weight_decay.",
        Scope.arm,
        Group.arm,
        lockstep=True,
        **LAMBDA,
    ),
    Setting(
        "dropout",
        Kind.float,
        0.0,
        "Dropout p",
        "Dropout p after each hidden activation.",
        Scope.arm,
        Group.arm,
        ge=0,
        lt=1,
    ),
    Setting(
        "batchnorm",
        Kind.bool,
        False,
        "Batch norm",
        "Batch normalization before each hidden activation.",
        Scope.arm,
        Group.arm,
        short="BN",
    ),
    Setting(
        "augment",
        Kind.bool,
        False,
        "Augment",
        "Augment training batches (never validation data).",
        Scope.arm,
        Group.arm,
        short="Aug",
        datasets=IMAGE_DATASETS,
    ),
    Setting(
        "aug_flip",
        Kind.bool,
        True,
        "Augment: horizontal flip",
        "Random horizontal flip (with augment).",
        Scope.arm,
        Group.arm_more,
    ),
    Setting(
        "aug_rotate",
        Kind.float,
        15.0,
        "Rotation degrees",
        "Rotation within ±degrees.",
        Scope.arm,
        Group.arm_more,
        ge=0,
        le=180,
        short="Augment: rotate ±degrees",
    ),
    Setting(
        "aug_scale",
        Kind.float,
        0.8,
        "Smallest crop area",
        "Random resized crop: smallest area fraction kept.",
        Scope.arm,
        Group.arm_more,
        ge=0.05,
        le=1,
        short="Augment: crop keeps ≥ area",
    ),
)


@dataclass(frozen=True)
class Spec:
    """The settings of an experiment (shared) and of its arms, in the order the form shows them
    and the API lists them. Tests build one with an extra setting to show it reaches every part."""

    shared: tuple[Setting, ...]
    arm: tuple[Setting, ...]

    @property
    def settings(self) -> tuple[Setting, ...]:
        return self.shared + self.arm

    def get(self, name: str) -> Setting:
        return next(s for s in self.settings if s.name == name and s.overrides is None)

    def trained(self) -> tuple[Setting, ...]:
        """What the worker's config holds: every setting but the arms' overrides (an override
        sets the shared setting's value)."""
        return tuple(s for s in self.settings if s.overrides is None)

    def lockstep_fields(self) -> frozenset[str]:
        """The fields arms may differ in and still train together; "arm" is the arm's name."""
        return frozenset({"arm"} | {s.name for s in self.settings if s.lockstep})

    def group(self, group: Group) -> tuple[Setting, ...]:
        return tuple(s for s in self.settings if s.group == group)

    def with_setting(self, setting: Setting) -> "Spec":
        if setting.per_arm:
            return replace(self, arm=(*self.arm, setting))
        return replace(self, shared=(*self.shared, setting))


SPEC = Spec(SHARED_SETTINGS, ARM_SETTINGS)

# What a sweep may vary, and its name in the form's list (l2 first: the default). "mix" is the
# per-layer L1/L2 pair (app.schemas.SweepIn.arm).
SWEEPS = {
    "l2": "L2 λ (Ridge)",
    "l1": "L1 λ (Lasso)",
    "prox_l1": "proximal L1 λ",
    "weight_decay": "weight decay",
    "dropout": "dropout p",
    "mix": "λ of L1 on layer 1 and L2 on layer 2",
}
# Swept on a linear grid (a probability); every other parameter on a log-spaced one.
LINEAR_SWEEPS = frozenset({"dropout"})


@dataclass(frozen=True)
class Measure:
    name: str
    help: str


# What the worker records per arm and epoch (store.models.EpochMetric's columns), in order.
EPOCH_METRICS: tuple[Measure, ...] = (
    Measure("train_loss", "Data loss (cross-entropy), mean over the epoch."),
    Measure("penalty", "Regularization term, lambda included, mean over the epoch."),
    Measure("train_acc", "Training accuracy over the epoch's batches."),
    Measure("val_loss", "Validation loss at the end of the epoch."),
    Measure("val_acc", "Validation accuracy at the end of the epoch."),
    Measure("lr", "The learning rate of the epoch."),
    Measure("epoch_time", "Seconds of training and evaluation."),
    Measure("samples_per_s", "Training images per second."),
    Measure("train_r2", "R^2 of the epoch's training loss (regression tasks; else null)."),
    Measure("val_r2", "R^2 on the held-out set at the end of the epoch (regression; else null)."),
)
# Null for regression tasks (never shown there), as R^2 is for classification.
CLASSIFICATION_METRICS = frozenset({"train_acc", "val_acc"})
REGRESSION_METRICS = frozenset({"train_r2", "val_r2"})
# Computed from the recorded ones when read.
DERIVED_METRICS: tuple[Measure, ...] = (Measure("gap", "train_acc - val_acc"),)
# Per weight matrix and epoch (worker.stats), in order.
LAYER_STATS: tuple[Measure, ...] = (
    Measure("mean_abs", "Mean |w|."),
    Measure("l1", "Σ|w|."),
    Measure("l2_sq", "Σw²."),
    Measure("zero_frac", "Fraction of weights exactly 0."),
    Measure("near_zero_frac", "Fraction of weights with |w| < 1e-3."),
    Measure("max_abs", "Largest |w|."),
    # Against the arm's initial weights w0 (the seed's); weight matrices only.
    Measure("shrink", "||w - w0|| / ||w0||: how far training moved the matrix."),
    Measure("sign_flip_frac", "Fraction of weights whose sign is opposite to their initial one."),
)
# Per epoch, per hidden layer: the fraction of its ReLU units that output 0 for every
# validation image (EpochMetric.dead_units).
DEAD_UNITS = Measure("dead_units", "Fraction of a hidden layer's ReLU units dead on validation.")
METRIC_NAMES = tuple(m.name for m in EPOCH_METRICS)
STAT_NAMES = tuple(m.name for m in LAYER_STATS)


def number(value: float) -> str:
    """A bound as people write it: 2147483647 whole, 0.05 as is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bounds(s: Setting) -> str:
    if s.choices:
        return ", ".join(f"`{k}`" for k in s.choices)
    if s.kind == Kind.bool:
        return "`true`, `false`"
    marks = (("≥", s.ge), (">", s.gt), ("≤", s.le), ("<", s.lt))
    bounds = ", ".join(f"{mark} {number(v)}" for mark, v in marks if v is not None)
    if s.kind == Kind.floats:
        return f"up to {s.max_items} values, each {bounds}"
    return bounds


def _default(s: Setting) -> str:
    if s.overrides:
        return "as the experiment"
    return json.dumps(s.default).strip('"')


def _applies(s: Setting) -> str:
    parts = []
    if s.datasets is not None:
        parts.append(", ".join(DATASET[d].label if d in DATASET else d for d in sorted(s.datasets)))
    if s.models is not None:
        parts.append(", ".join(sorted(s.models)))
    return "; ".join(parts) or "all"


def settings_table(spec: Spec = SPEC) -> str:
    """The settings as a markdown table, for the docs."""
    rows = [
        "| Setting | Per | Default | Allowed | Applies to | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for s in spec.settings:
        meaning = (s.help or s.label).replace("|", r"\|")  # a bare pipe would end the cell
        rows.append(
            f"| `{s.name}` | {'arm' if s.per_arm else 'experiment'} | `{_default(s)}` | "
            f"{_bounds(s)} | {_applies(s)} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m store.spec > table.md: the settings table for the docs
    print(settings_table(), end="")
