"""TrainConfig: what one arm trains, built from the stored experiment and arm configs.

Its fields are the spec's settings (store.spec), shared ones first, then `arm` (the arm's name),
then the arm's own; an arm's override of a shared setting sets that setting. Lists of numbers
(per weight matrix lambdas) are tuples here, so a config is hashable and immutable.
"""

from dataclasses import asdict, field, fields, make_dataclass
from typing import Any

from store.spec import SPEC, Kind, Setting, Spec

TYPES: dict[Kind, Any] = {
    Kind.int: int,
    Kind.float: float,
    Kind.bool: bool,
    Kind.choice: str,
    Kind.floats: tuple[float, ...],
}


class TrainConfigMethods:
    """What every TrainConfig class (`train_config_class`) has besides its fields."""

    tuples: frozenset[str] = frozenset()  # fields held as tuples, stored as lists
    # The fields arms may differ in and still train as one stacked computation (worker.lockstep).
    lockstep_fields: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in data.items() if k in known}
        for key in cls.tuples:
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        for key in self.tuples:
            if out[key] is not None:
                out[key] = list(out[key])
        return out

    def layer_lambdas(self, n_layers: int) -> list[tuple[float, float]]:
        """(l1, l2) for each penalized weight matrix, in model order."""
        cfg: Any = self
        l1 = cfg.l1_layers if cfg.l1_layers is not None else (cfg.l1,) * n_layers
        l2 = cfg.l2_layers if cfg.l2_layers is not None else (cfg.l2,) * n_layers
        return list(zip(l1, l2, strict=True))


def _field(s: Setting) -> tuple[str, Any, Any]:
    kind = TYPES[s.kind] | None if s.nullable else TYPES[s.kind]
    return s.name, kind, field(default=s.default)


def train_config_class(spec: Spec) -> type:
    """A frozen dataclass with one field per trained setting of the spec, defaults as there."""
    trained = spec.trained()
    shared = [_field(s) for s in trained if not s.per_arm]
    arm = [_field(s) for s in trained if s.per_arm]
    return make_dataclass(
        "TrainConfig",
        [*shared, ("arm", str, field(default="original")), *arm],
        bases=(TrainConfigMethods,),
        namespace={
            "__module__": __name__,
            "tuples": frozenset(s.name for s in trained if s.kind == Kind.floats),
            "lockstep_fields": spec.lockstep_fields(),
        },
        frozen=True,
    )


TrainConfig = train_config_class(SPEC)
