"""API models with bounds, shared by the JSON API and the HTML form (one set of rules)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}

ArmName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[\w .+()-]+$"),
]
Lambda = Annotated[float, Field(ge=0, le=1, description="Penalty strength; 0 turns it off.")]


class Strict(BaseModel):
    # Unknown fields are errors (a typo must not silently train the default); NaN and inf too.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunIn(Strict):
    name: ArmName
    l1: Lambda = 0.0
    l2: Lambda = 0.0


def tutorial_arms() -> list[RunIn]:
    return [
        RunIn(name="Original"),
        RunIn(name="Lasso", l1=1e-4),
        RunIn(name="Ridge", l2=1e-3),
    ]


class ExperimentIn(Strict):
    """An experiment: shared settings plus the arms to compare. Defaults: the tutorial."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    dataset: Literal["mnist", "fashion_mnist"] = "mnist"
    train_per_class: int | None = Field(
        100, ge=1, le=6000, description="Training images per class; null for the whole split."
    )
    val_per_class: int | None = Field(
        300, ge=1, le=1000, description="Validation images per class from the test split."
    )
    epochs: int = Field(20, ge=1, le=200)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0, le=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    hidden: int = Field(500, ge=1, le=4096, description="Width of the hidden layer.")
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
    edges: list[float]
    counts: list[int]
    underflow: int
    overflow: int


class HistogramsPublic(BaseModel):
    run_id: int
    epoch: int | None
    layers: dict[str, LayerHistogram]


class CancelPublic(BaseModel):
    cancelled: int = Field(description="Queued arms cancelled at once.")
    stopping: int = Field(description="Running arms asked to stop (within a second).")
    experiment: ExperimentPublic
