"""TrainConfig: what one arm trains, built from the stored experiment and arm configs."""

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"
    train_per_class: int | None = 100  # None: the whole training split
    val_per_class: int | None = 300  # None: the whole test split
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    hidden: int = 500
    seed: int = 0
    arm: str = "original"
    l1: float = 0.0  # lambda * sum |W| over weight matrices
    l2: float = 0.0  # lambda * sum W^2 over weight matrices

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
