"""The HTML form <-> ExperimentIn: the same validation as the API, errors keyed by form field.

Arm fields are named `runs.<i>.<field>` (the page's script renumbers rows after adding or
removing one), so a message at ("runs", 1, "l1") lands next to the field `runs.1.l1`.
"""

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.schemas import ExperimentIn, RunIn, SweepIn

SCALARS = (
    "name",
    "dataset",
    "train_per_class",
    "val_per_class",
    "model",
    "hidden",
    "depth",
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "epochs",
    "seed",
    "precision",
)
# Blank means "the whole split" (or "no name") for these; for every other field it is an error.
BLANK_IS_NONE = {"name", "train_per_class", "val_per_class"}
ARM_CHECKBOXES = {"penalize_bias", "batchnorm", "augment", "aug_flip"}
ARM_LISTS = {"l1_layers", "l2_layers"}
ARM_FIELD = re.compile(r"^runs\.(\d{1,2})\.(\w+)$")


def form_values(body: ExperimentIn) -> dict[str, Any]:
    """What the form shows for an experiment (defaults and presets)."""
    values = {k: getattr(body, k) for k in SCALARS}
    values["runs"] = (
        [arm_values(r) for r in body.runs]
        if body.sweep is None
        else [arm_values(r) for r in ExperimentIn().runs]
    )
    sweep = body.sweep or SweepIn()
    values["sweep"] = {**sweep.model_dump(by_alias=True), "enabled": body.sweep is not None}
    return values


def arm_values(run: RunIn) -> dict[str, Any]:
    values = run.model_dump()
    for key in ARM_LISTS:
        values[key] = ", ".join(f"{v:g}" for v in values[key]) if values[key] else ""
    values["optimizer"] = values["optimizer"] or ""
    return values


def _arm(fields: dict[str, str]) -> dict[str, Any]:
    arm: dict[str, Any] = {}
    for key in RunIn.model_fields:
        value = fields.get(key, "").strip()
        if key in ARM_CHECKBOXES:
            arm[key] = key in fields  # an unticked box is not submitted at all
        elif key in ARM_LISTS:
            arm[key] = [v for v in re.split(r"[,\s;]+", value) if v] or None
        elif key == "optimizer":
            arm[key] = value or None  # blank: the experiment's optimizer
        elif key == "name" or value != "":
            arm[key] = value
    return arm


def parse(form: FormData) -> tuple[dict[str, Any], ExperimentIn | None, dict[str, str]]:
    """Returns (the raw values to show again, the validated experiment or None, errors by field)."""
    raw: dict[str, Any] = {}
    for key in SCALARS:
        value = str(form.get(key, "")).strip()
        raw[key] = None if value == "" and key in BLANK_IS_NONE else value
    by_index: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        if m := ARM_FIELD.match(key):
            by_index.setdefault(int(m.group(1)), {})[m.group(2)] = str(value)
    arms = [_arm(by_index[i]) for i in sorted(by_index)]
    sweep: dict[str, Any] = {
        k: str(form.get(f"sweep.{k}", "")).strip() for k in ("param", "from", "to", "points")
    }
    sweep["include_zero"] = "sweep.include_zero" in form
    enabled = "sweep.enabled" in form
    if enabled:
        raw["sweep"] = sweep  # the sweep makes the arms; the rows above are left aside
    else:
        raw["runs"] = arms
    shown = {
        **raw,
        "runs": [_shown(by_index[i], a) for i, a in zip(sorted(by_index), arms, strict=True)],
        "sweep": {**sweep, "enabled": enabled},
    }
    try:
        return shown, ExperimentIn.model_validate(raw), {}
    except ValidationError as exc:
        return shown, None, errors_by_field(exc)


def _shown(fields: dict[str, str], arm: dict[str, Any]) -> dict[str, Any]:
    """An arm as the user typed it, to show again next to its errors."""
    shown = {k: fields.get(k, "") for k in RunIn.model_fields}
    for key in ARM_CHECKBOXES:
        shown[key] = arm[key]
    return shown


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# Pydantic's messages ("Input should be greater than or equal to 0") in the form's plain words.
PLAIN = {
    "greater_than_equal": lambda c: f"Must be {_number(c['ge'])} or more",
    "less_than_equal": lambda c: f"Must be {_number(c['le'])} or less",
    "greater_than": lambda c: f"Must be more than {_number(c['gt'])}",
    "less_than": lambda c: f"Must be less than {_number(c['lt'])}",
    "int_parsing": lambda c: "Enter a whole number",
    "int_from_float": lambda c: "Enter a whole number",
    "int_type": lambda c: "Enter a whole number",
    "float_parsing": lambda c: "Enter a number",
    "float_type": lambda c: "Enter a number",
    "finite_number": lambda c: "Enter a finite number",
    "missing": lambda c: "Required",
    "string_too_short": lambda c: "Required",
    "string_too_long": lambda c: f"At most {c['max_length']} characters",
    "too_long": lambda c: f"At most {c['max_length']}",
    "string_pattern_mismatch": lambda c: "Use letters, digits, spaces and . , + ( ) / = - only",
    "literal_error": lambda c: "Choose one of the options",
}


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    """('runs', 1, 'l1') -> 'runs.1.l1'; the first message per field, in plain words."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) > 3 and loc[0] == "runs" and loc[2] in ARM_LISTS:
            loc = loc[:3]  # a bad item of a per-layer list: report it on the list's field
        key = ".".join(str(p) for p in loc) or "form"
        plain = PLAIN.get(err["type"])
        msg = plain(err.get("ctx") or {}) if plain else err["msg"].removeprefix("Value error, ")
        if key == "runs" and err["type"] == "too_long":
            msg += " arms"
        errors.setdefault(key, msg[:1].upper() + msg[1:])
    return errors
