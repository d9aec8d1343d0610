"""The HTML form <-> ExperimentIn: the same validation as the API, errors keyed by form field.

The fields, their labels, bounds and notes come from the spec (store.spec); templates/_form.html
renders the `Widget`s of each group. Arm fields are named `runs.<i>.<field>` (the page's script
renumbers rows after adding or removing one), so a message at ("runs", 1, "l1") lands next to the
field `runs.1.l1`.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.schemas import ExperimentIn, RunIn, SweepIn
from store.spec import (
    DATASET,
    MODEL_DATASETS,
    SPEC,
    TASK,
    TASKS,
    Group,
    Kind,
    Setting,
    Spec,
    number,
    task_defaults,
)

ARM_FIELD = re.compile(r"^runs\.(\d{1,2})\.(\w+)$")


def _attr(value: float | None) -> str | None:
    return None if value is None else number(value)


def _keys(keys: frozenset[str] | None) -> str | None:
    """Where a setting applies, as a data attribute: space-separated keys; None: everywhere."""
    return None if keys is None else " ".join(sorted(keys))


def task_groups(choices: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The task picker's groups: the image datasets, then the toy tasks (every other task)."""
    images = {k: v for k, v in choices.items() if k in DATASET}
    toys = {k: v for k, v in choices.items() if k not in DATASET}
    groups = (("Image datasets", images), ("Toy tasks", toys))
    return [(label, group) for label, group in groups if group]


def model_fits(model: str) -> frozenset[str] | None:
    """The tasks a model can train on; None: every task."""
    fits = MODEL_DATASETS.get(model)
    every = set(SPEC.get("dataset").choices or {})
    return None if fits is None or every <= fits else fits


# The settings a toy task brings its own defaults for (model, size, optimizer, epochs...).
TASK_KEYS = sorted({k for t in TASKS for k in task_defaults(t, {})})


def task_form_defaults(key: str) -> str:
    """What the form fills in when the user picks this task (JSON): the task's defaults, or for
    an image dataset the spec's defaults of the settings a toy task changes (those that apply)."""
    if key in TASK:
        values = task_defaults(TASK[key], {})
    else:
        settings = [SPEC.get(k) for k in TASK_KEYS]
        values = {s.name: s.default for s in settings if s.datasets is None or key in s.datasets}
    return json.dumps(values, sort_keys=True)


@dataclass(frozen=True)
class Widget:
    """How the form shows one setting."""

    name: str
    kind: str  # "number" | "select" | "check" | "text" (a list of numbers)
    label: str  # the accessible name
    caption: str  # the visible one where space is short
    hint: str
    placeholder: str
    options: dict[str, str]
    min: str | None
    max: str | None
    step: str
    blank_option: str | None  # a select's "as the experiment" choice (an arm's override)
    # Where it applies (the form hides and disables it elsewhere); None: everywhere.
    datasets: str | None = None
    models: str | None = None
    # A select's options in labelled groups (the task picker); None: one flat list.
    groups: list[tuple[str, dict[str, str]]] | None = None
    # Per option, the tasks it fits (the model picker); an option not named fits every task.
    option_datasets: dict[str, str] | None = None
    # Per option, the values the form fills in when it is picked (the task picker's defaults).
    option_defaults: dict[str, str] | None = None

    @classmethod
    def of(cls, s: Setting) -> "Widget":
        kind = {Kind.choice: "select", Kind.bool: "check", Kind.floats: "text"}.get(
            s.kind, "number"
        )
        low = s.ge if s.ge is not None else s.gt
        # The input's max is a hint for the spinner (the form is `novalidate`, the server checks
        # the bounds): below an exclusive bound, the last hundredth.
        high = s.le if s.le is not None else (round(s.lt - 0.01, 2) if s.lt is not None else None)
        return cls(
            name=s.name,
            kind=kind,
            label=s.label,
            caption=s.caption,
            hint=s.hint,
            placeholder=s.placeholder,
            options=dict(s.choices or {}),
            min=_attr(low),
            max=_attr(high),
            step="1" if s.kind == Kind.int else "any",
            blank_option="as the experiment" if s.overrides else None,
            datasets=_keys(s.datasets),
            models=_keys(s.models),
            groups=task_groups(dict(s.choices or {})) if s.name == "dataset" else None,
            option_datasets=_option_datasets(s) if s.name == "model" else None,
            option_defaults=(
                {k: task_form_defaults(k) for k in s.choices or {}} if s.name == "dataset" else None
            ),
        )


def _option_datasets(s: Setting) -> dict[str, str]:
    return {k: v for k in s.choices or {} if (v := _keys(model_fits(k))) is not None}


class Form:
    """The form of one spec and its API models."""

    def __init__(self, spec: Spec, experiment_model: Any, arm_model: Any):
        self.spec = spec
        self.experiment_model, self.arm_model = experiment_model, arm_model
        self.scalars = ("name", *(s.name for s in spec.shared))
        # Blank means None ("the whole split", "no name", "as the experiment") where None is a
        # value; for every other field blank is an error (shared) or the default (an arm's).
        self.blank_is_none = {"name"} | {s.name for s in spec.shared if s.nullable}
        self.arm_blank_is_none = {s.name for s in spec.arm if s.nullable and s.kind != Kind.floats}
        self.checkboxes = {s.name for s in spec.arm if s.kind == Kind.bool}
        self.shared_checkboxes = {s.name for s in spec.shared if s.kind == Kind.bool}
        self.lists = {s.name for s in spec.arm if s.kind == Kind.floats}
        # Shared fields a submitted form may lack (its page predates them): their default.
        self.absent_is_default = {s.name for s in spec.shared if s.name == "repeats"}
        self.widgets = {g: [Widget.of(s) for s in spec.group(g)] for g in Group}

    def group(self, name: str) -> list[Widget]:
        return self.widgets[Group(name)]

    def arm_columns(self) -> list[Widget]:
        """The arms table's columns: its row's fields but the checkboxes (one cell for those)."""
        return [w for w in self.widgets[Group.arm] if w.kind != "check"]

    def arm_checks(self) -> list[Widget]:
        return [w for w in self.widgets[Group.arm] if w.kind == "check"]

    def blank_arm(self) -> dict[str, Any]:
        """A new arm's row: the defaults, no name (0 rather than 0.0, as people type them)."""
        values = self.arm_values(self.arm_model.model_construct(name=""))
        whole = {k for k, v in values.items() if isinstance(v, float) and v.is_integer()}
        return {**values, **{k: int(values[k]) for k in whole}}

    def values(self, body: Any) -> dict[str, Any]:
        """What the form shows for an experiment (defaults and presets)."""
        values = {k: getattr(body, k) for k in self.scalars}
        runs = body.runs if body.sweep is None else self.experiment_model().runs
        values["runs"] = [self.arm_values(r) for r in runs]
        sweep = body.sweep or SweepIn()
        values["sweep"] = {**sweep.model_dump(by_alias=True), "enabled": body.sweep is not None}
        return values

    def arm_values(self, run: Any) -> dict[str, Any]:
        values = run.model_dump()
        for key in self.lists:
            values[key] = ", ".join(f"{v:g}" for v in values[key]) if values[key] else ""
        for key in self.arm_blank_is_none:
            values[key] = "" if values[key] is None else values[key]
        return values

    def _arm(self, fields: dict[str, str]) -> dict[str, Any]:
        arm: dict[str, Any] = {}
        for key in self.arm_model.model_fields:
            value = fields.get(key, "").strip()
            if key in self.checkboxes:
                arm[key] = key in fields  # an unticked box is not submitted at all
            elif key in self.lists:
                arm[key] = [v for v in re.split(r"[,\s;]+", value) if v] or None
            elif key in self.arm_blank_is_none:
                arm[key] = value or None  # blank: the experiment's value
            elif key == "name" or value != "":
                arm[key] = value
        return arm

    def parse(self, form: FormData) -> tuple[dict[str, Any], Any, dict[str, str]]:
        """(the raw values to show again, the validated experiment or None, errors by field)."""
        raw: dict[str, Any] = {}
        for key in self.scalars:
            if key not in form and key not in self.shared_checkboxes:
                continue  # not sent (disabled: it does not apply to the task): the default
            value = str(form.get(key, "")).strip()
            if key in self.absent_is_default and key not in form:
                value = str(self.spec.get(key).default)  # a form from before the field existed
            if key in self.shared_checkboxes:
                value = key in form  # an unticked box is not submitted at all
            raw[key] = None if value == "" and key in self.blank_is_none else value
        by_index: dict[int, dict[str, str]] = {}
        for key, value in form.multi_items():
            if m := ARM_FIELD.match(key):
                by_index.setdefault(int(m.group(1)), {})[m.group(2)] = str(value)
        arms = [self._arm(by_index[i]) for i in sorted(by_index)]
        sweep: dict[str, Any] = {
            k: str(form.get(f"sweep.{k}", "")).strip() for k in ("param", "from", "to", "points")
        }
        sweep["include_zero"] = "sweep.include_zero" in form
        enabled = "sweep.enabled" in form
        if enabled:
            raw["sweep"] = sweep  # the sweep makes the arms; the rows above are left aside
        else:
            raw["runs"] = arms
        # A field not sent shows its default again (the script disabled it for this task).
        fields = self.experiment_model.model_fields
        unsent = {k: fields[k].default for k in self.scalars if k not in raw and k in fields}
        shown = {
            **unsent,
            **raw,
            "runs": [
                self._shown(by_index[i], a) for i, a in zip(sorted(by_index), arms, strict=True)
            ],
            "sweep": {**sweep, "enabled": enabled},
        }
        try:
            return shown, self.experiment_model.model_validate(raw), {}
        except ValidationError as exc:
            return shown, None, self.errors_by_field(exc)

    def _shown(self, fields: dict[str, str], arm: dict[str, Any]) -> dict[str, Any]:
        """An arm as the user typed it, to show again next to its errors."""
        shown = {k: fields.get(k, "") for k in self.arm_model.model_fields}
        for key in self.checkboxes:
            shown[key] = arm[key]
        return shown

    def errors_by_field(self, exc: ValidationError) -> dict[str, str]:
        """('runs', 1, 'l1') -> 'runs.1.l1'; the first message per field, in plain words."""
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = err["loc"]
            if len(loc) > 3 and loc[0] == "runs" and loc[2] in self.lists:
                loc = loc[:3]  # a bad item of a per-layer list: report it on the list's field
            key = ".".join(str(p) for p in loc) or "form"
            plain = PLAIN.get(err["type"])
            msg = plain(err.get("ctx") or {}) if plain else err["msg"].removeprefix("Value error, ")
            if key == "runs" and err["type"] == "too_long":
                msg += " arms"
            errors.setdefault(key, msg[:1].upper() + msg[1:])
        return errors


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

FORM = Form(SPEC, ExperimentIn, RunIn)
form_values = FORM.values
arm_values = FORM.arm_values
parse = FORM.parse
errors_by_field = FORM.errors_by_field
