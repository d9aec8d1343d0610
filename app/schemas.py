"""API models with bounds, shared by the JSON API and the HTML form (one set of rules)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

DATASETS = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR-10",
}
MODELS = {"mlp": "Fully connected", "cnn": "Small CNN"}
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
# One line each on how the optimizer's weight_decay differs from a penalty in the loss.
WEIGHT_DECAY_NOTES = {
    "sgd": "SGD: weight_decay adds wd·w to the gradient, the same as an L2 penalty of wd/2·ΣW².",
    "adam": "Adam: weight_decay is added to the gradient before Adam's rescaling (coupled), "
    "so large-gradient weights decay less than an exact L2 penalty would suggest.",
    "adamw": "AdamW: weight decay is decoupled, w ← w − lr·wd·w after the Adam step, "
    "whatever the gradient's scale; it is not the gradient of any penalty.",
}

ArmName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[\w .,+()/-]+$"
    ),
]
Lambda = Annotated[float, Field(ge=0, le=1, description="Penalty strength; 0 turns it off.")]
MAX_LAYERS = 9


class Strict(BaseModel):
    # Unknown fields are errors (a typo must not silently train the default); NaN and inf too.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunIn(Strict):
    """One arm: its regularization. Zero everywhere is the unregularized Original."""

    name: ArmName
    l1: Lambda = 0.0
    l2: Lambda = 0.0
    l1_layers: list[Lambda] | None = Field(
        None,
        max_length=MAX_LAYERS,
        description="Per weight matrix L1 lambdas, in model order; replaces l1 when given.",
    )
    l2_layers: list[Lambda] | None = Field(
        None,
        max_length=MAX_LAYERS,
        description="Per weight matrix L2 lambdas, in model order; replaces l2 when given.",
    )
    penalize_bias: bool = Field(
        False, description="Penalize biases and normalization parameters too (default: weights)."
    )
    prox_l1: Lambda = Field(
        0.0,
        description="Proximal L1: soft-threshold weights by lr·lambda after each step.",
    )
    weight_decay: Lambda = Field(0.0, description="The optimizer's weight_decay.")
    optimizer: Literal["adam", "adamw", "sgd"] | None = Field(
        None, description="Overrides the experiment's optimizer for this arm."
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout p after each hidden activation.")
    batchnorm: bool = Field(False, description="Batch normalization before each hidden activation.")
    augment: bool = Field(False, description="Augment training batches (never validation data).")
    aug_flip: bool = Field(True, description="Random horizontal flip (with augment).")
    aug_rotate: float = Field(15.0, ge=0, le=180, description="Rotation within ±degrees.")
    aug_scale: float = Field(
        0.8, ge=0.05, le=1, description="Random resized crop: smallest area fraction kept."
    )

    def arm_config(self) -> dict[str, Any]:
        """What the worker merges over the experiment's config (unset overrides left out)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


def tutorial_arms() -> list[RunIn]:
    return [
        RunIn(name="Original"),
        RunIn(name="Lasso", l1=1e-4),
        RunIn(name="Ridge", l2=1e-3),
    ]


def weight_matrices(model: str, depth: int) -> list[str]:
    """The penalized layers, in order (names as in the checkpoint's state_dict)."""
    if model == "cnn":
        return ["conv_1", "conv_2", "linear_1", "linear_2"]
    return [f"linear_{i}" for i in range(1, depth + 2)]


class ExperimentIn(Strict):
    """An experiment: shared settings plus the arms to compare. Defaults: the tutorial."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    dataset: Literal["mnist", "fashion_mnist", "kmnist", "cifar10"] = "mnist"
    train_per_class: int | None = Field(
        100, ge=1, le=6000, description="Training images per class; null for the whole split."
    )
    val_per_class: int | None = Field(
        300, ge=1, le=1000, description="Validation images per class from the test split."
    )
    model: Literal["mlp", "cnn"] = Field("mlp", description="mlp: the tutorial's network.")
    hidden: int = Field(500, ge=1, le=4096, description="Width of the hidden layer(s).")
    depth: int = Field(1, ge=1, le=MAX_LAYERS - 1, description="Hidden layers (mlp).")
    epochs: int = Field(20, ge=1, le=200)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0, le=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    runs: list[RunIn] = Field(default_factory=tutorial_arms, min_length=1, max_length=12)

    @field_validator("runs")
    @classmethod
    def _unique_names(cls, runs: list[RunIn]) -> list[RunIn]:
        seen: set[str] = set()
        for run in runs:
            key = run.name.casefold()
            if key in seen:
                raise ValueError(f"two arms are named {run.name!r}; arm names must differ")
            seen.add(key)
        return runs

    @model_validator(mode="after")
    def _per_layer_lengths(self) -> "ExperimentIn":
        layers = weight_matrices(self.model, self.depth)
        errors = []
        for i, run in enumerate(self.runs):
            for key in ("l1_layers", "l2_layers"):
                values = getattr(run, key)
                if values is not None and len(values) != len(layers):
                    errors.append(
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "layer_count",
                                "give {n} values, one per weight matrix ({names})",
                                {"n": len(layers), "names": ", ".join(layers)},
                            ),
                            loc=("runs", i, key),
                            input=values,
                        )
                    )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def shared_config(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name", "runs"})

    def display_name(self) -> str:
        arms = " vs ".join(r.name for r in self.runs)
        return self.name or f"{DATASETS[self.dataset]}: {arms}"


RunStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RunPublic(BaseModel):
    id: int
    experiment_id: int
    name: str
    status: RunStatusName
    config: dict[str, Any]
    attempts: int
    epochs_done: int
    epochs_total: int
    device: str | None
    worker_id: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    eta_seconds: float | None = Field(None, description="Estimated time left while running.")
    checkpoint_url: str | None = Field(None, description="Set once the final checkpoint exists.")


class ExperimentPublic(BaseModel):
    id: int
    name: str
    created_at: datetime
    config: dict[str, Any]
    status: RunStatusName
    runs: list[RunPublic]


class EpochPublic(BaseModel):
    epoch: int
    train_loss: float = Field(description="Data loss (cross-entropy), mean over the epoch.")
    penalty: float = Field(description="Regularization term, lambda included, mean over the epoch.")
    train_acc: float
    val_loss: float
    val_acc: float
    gap: float = Field(description="train_acc - val_acc")
    lr: float
    epoch_time: float
    samples_per_s: float
    layers: dict[str, dict[str, float]]


class MetricsPublic(BaseModel):
    run_id: int
    epochs: list[EpochPublic]


class LayerHistogram(BaseModel):
    edges: list[float] = Field(description="len(counts) + 1 bin edges")
    counts: list[int]
    level: int = Field(
        description="The bins cover ±base·2**level; see /api/experiments/{id}/histograms"
    )
    base: float = Field(description="Half-range of the level-0 bins, from the initial weights")


class HistogramsPublic(BaseModel):
    run_id: int
    epoch: int | None
    layers: dict[str, LayerHistogram]


class CancelPublic(BaseModel):
    cancelled: int = Field(description="Queued arms cancelled at once.")
    stopping: int = Field(description="Running arms asked to stop (within a second).")
    experiment: ExperimentPublic
