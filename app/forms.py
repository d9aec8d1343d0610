"""The HTML form <-> ExperimentIn: the same validation as the API, errors keyed by form field."""

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.schemas import ExperimentIn

SCALARS = (
    "name",
    "dataset",
    "train_per_class",
    "val_per_class",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "hidden",
    "seed",
)
# Blank means "the whole split" for these; for every other field blank is an error.
BLANK_IS_NONE = {"name", "train_per_class", "val_per_class"}


def form_values(body: ExperimentIn) -> dict[str, Any]:
    """What the form shows for an experiment (the defaults prefill it with the tutorial)."""
    values = {k: getattr(body, k) for k in SCALARS}
    values["runs"] = [r.model_dump() for r in body.runs]
    return values


def parse(form: FormData) -> tuple[dict[str, Any], ExperimentIn | None, dict[str, str]]:
    """Returns (the raw values to show again, the validated experiment or None, errors by field)."""
    raw: dict[str, Any] = {}
    for key in SCALARS:
        value = str(form.get(key, "")).strip()
        if value == "" and key in BLANK_IS_NONE:
            raw[key] = None
        else:
            raw[key] = value
    names, l1s, l2s = form.getlist("arm_name"), form.getlist("arm_l1"), form.getlist("arm_l2")
    raw["runs"] = [
        {"name": str(n).strip(), "l1": str(a).strip() or "0", "l2": str(b).strip() or "0"}
        for n, a, b in zip(names, l1s, l2s, strict=False)
    ]
    try:
        return raw, ExperimentIn.model_validate(raw), {}
    except ValidationError as exc:
        return raw, None, errors_by_field(exc)


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    """('runs', 1, 'l1') -> 'runs.1.l1'; the first message per field, in plain words."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "form"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("float_parsing", "int_parsing"):
            msg = "Enter a number." if err["type"] == "float_parsing" else "Enter a whole number."
        errors.setdefault(key, msg)
    return errors
