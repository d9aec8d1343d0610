"""TrainConfig: what one arm trains, built from the stored experiment and arm configs."""

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    # Shared by the arms of an experiment.
    dataset: str = "mnist"
    train_per_class: int | None = 100  # None: the whole training split
    val_per_class: int | None = 300  # None: the whole test split
    model: str = "mlp"  # "mlp" (the tutorial's network) or "cnn"
    hidden: int = 500
    depth: int = 1  # hidden layers of the mlp
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"  # an arm may override it
    momentum: float = 0.0  # SGD only
    seed: int = 0
    precision: str = "fp32"  # "bf16": autocast in training steps (evaluation stays fp32)
    # The arm's own treatment.
    arm: str = "original"
    l1: float = 0.0  # lambda * sum |W| over weight matrices
    l2: float = 0.0  # lambda * sum W^2 over weight matrices
    l1_layers: tuple[float, ...] | None = None  # per weight matrix; replaces l1
    l2_layers: tuple[float, ...] | None = None
    penalize_bias: bool = False
    prox_l1: float = 0.0  # soft-threshold by lr * prox_l1 after each step
    weight_decay: float = 0.0
    dropout: float = 0.0
    batchnorm: bool = False
    augment: bool = False
    aug_flip: bool = True
    aug_rotate: float = 15.0
    aug_scale: float = 0.8

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("l1_layers", "l2_layers"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("l1_layers", "l2_layers"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out

    def layer_lambdas(self, n_layers: int) -> list[tuple[float, float]]:
        """(l1, l2) for each penalized weight matrix, in model order."""
        l1 = self.l1_layers if self.l1_layers is not None else (self.l1,) * n_layers
        l2 = self.l2_layers if self.l2_layers is not None else (self.l2,) * n_layers
        return list(zip(l1, l2, strict=True))
