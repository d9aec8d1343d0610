"""API models with bounds, shared by the JSON API and the HTML form (one set of rules).

The experiment's and the arms' settings come from the spec (store.spec): `api_models` builds
ExperimentIn and RunIn from it; the rules between settings (unique arm names, sweeps, per-layer
list lengths) are written once here, in the models' bases.
"""

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from store.models import RunBase, RunStatus
from store.spec import (
    DEAD_UNITS,
    DERIVED_METRICS,
    EPOCH_METRICS,
    LINEAR_SWEEPS,
    MAX_ARMS,
    MAX_RUNS,
    MODEL_DATASETS,
    SPEC,
    SWEEPS,
    TASK,
    Kind,
    Setting,
    Spec,
    task_defaults,
)

DATASETS = dict(SPEC.get("dataset").choices or {})
MODELS = dict(SPEC.get("model").choices or {})
OPTIMIZERS = dict(SPEC.get("optimizer").choices or {})
PRECISIONS = dict(SPEC.get("precision").choices or {})
# One line each on how the optimizer's weight_decay differs from a penalty in the loss.
WEIGHT_DECAY_NOTES = {
    "sgd": "SGD: weight_decay adds wd·w to the gradient, the same as an L2 penalty of wd/2·ΣW².",
    "adam": "Adam: weight_decay is added to the gradient before Adam's rescaling (coupled), "
    "so large-gradient weights decay less than an exact L2 penalty would suggest.",
    "adamw": "AdamW: weight decay is decoupled, w ← w − lr·wd·w after the Adam step, "
    "whatever the gradient's scale; it is not the gradient of any penalty.",
}


# Characters that change how a name reads without being seen: text-direction overrides, isolates
# and marks (a name shown as `Ridge` could hold `egdiR` reversed), and line or paragraph breaks.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
LINE_BREAKS = frozenset("\u2028\u2029")
# What strip_whitespace trims (Unicode White_Space; Python's str.strip() would also take \x1c-\x1f).
TRIMMED = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
TRIMMED += "\u2028\u2029\u202f\u205f\u3000"


def plain_name(value: Any) -> Any:
    """A name is shown in pages, file names and exports: no control characters (tab, newline,
    escape, DEL...) and no invisible text-direction controls. Checked before the other rules, so
    the message says what is wrong in plain words. Whitespace at either end is left to be
    stripped, as before."""
    if isinstance(value, str):
        for i, ch in enumerate(value.strip(TRIMMED)):
            if unicodedata.category(ch) == "Cc" or ch in LINE_BREAKS:
                raise PydanticCustomError(
                    "control_character",
                    "names cannot contain control characters such as tabs or line breaks "
                    "(found U+{code} at position {pos})",
                    {"code": f"{ord(ch):04X}", "pos": i + 1},
                )
            if ch in BIDI_CONTROLS:
                raise PydanticCustomError(
                    "bidi_control",
                    "names cannot contain invisible text-direction characters "
                    "(found U+{code} at position {pos})",
                    {"code": f"{ord(ch):04X}", "pos": i + 1},
                )
    return value


ArmName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[\w .,+()/=-]+$"
    ),
    BeforeValidator(plain_name),
]
ExperimentName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=80),
    BeforeValidator(plain_name),
]
BOUNDS = ("ge", "gt", "le", "lt")


class Strict(BaseModel):
    # Unknown fields are errors (a typo must not silently train the default); NaN and inf too.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def setting_field(s: Setting) -> tuple[Any, Any]:
    """A setting as a pydantic field: its type, default, bounds and description."""
    bounds = {k: v for k in BOUNDS if (v := getattr(s, k)) is not None}
    kind: Any
    if s.kind == Kind.floats:
        kind = list[Annotated[float, Field(**bounds)]]  # bounds apply to each value
        bounds = {"max_length": s.max_items} if s.max_items is not None else {}
    elif s.kind == Kind.choice:
        kind = Literal[tuple(s.choices or ())]
    else:
        kind = {Kind.int: int, Kind.float: float, Kind.bool: bool}[s.kind]
    if s.nullable:
        kind = kind | None
    return kind, Field(s.default, description=s.help or None, **bounds)


class ArmRules(Strict):
    """What every arm model has besides its settings (app.schemas.api_models adds those)."""

    def arm_config(self) -> dict[str, Any]:
        """What the worker merges over the experiment's config (unset overrides left out)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


class SweepIn(Strict):
    """A grid over one technique's strength: log-spaced for lambdas, linear for dropout p."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    param: Literal[tuple(SWEEPS)] = "l2"  # type: ignore[valid-type]
    from_: float = Field(1e-6, alias="from", ge=0, le=1, description="First grid value.")
    to: float = Field(1e-1, ge=0, le=1, description="Last grid value.")
    points: int = Field(9, ge=2, le=MAX_ARMS - 1)
    include_zero: bool = Field(True, description="Add an arm at 0: the unregularized reference.")

    @model_validator(mode="after")
    def _range(self) -> "SweepIn":
        if self.param in LINEAR_SWEEPS:
            if self.to >= 1:
                raise ValueError("dropout p must stay below 1")
        elif self.from_ <= 0:
            raise ValueError("a log-spaced lambda grid must start above 0 (the zero arm is apart)")
        if self.from_ >= self.to:
            raise ValueError("'from' must be smaller than 'to'")
        return self

    def values(self) -> list[float]:
        n = self.points
        if self.param in LINEAR_SWEEPS:
            grid = [self.from_ + (self.to - self.from_) * i / (n - 1) for i in range(n)]
        else:
            ratio = math.log(self.to / self.from_)
            grid = [self.from_ * math.exp(ratio * i / (n - 1)) for i in range(n)]
        grid = [float(f"{v:.6g}") for v in grid]  # readable values, stored as shown
        if self.include_zero and 0.0 not in grid:
            grid = [0.0, *grid]
        return grid

    def arm_fields(self, value: float) -> dict[str, Any]:
        """The arm of one grid value, as the arm model's fields."""
        label = f"{value:.3g}" if value else "0"
        if self.param == "mix":
            return {"name": f"mix={label}", "l1_layers": [value, 0.0], "l2_layers": [0.0, value]}
        return {"name": f"{self.param}={label}", self.param: value}

    def arm(self, value: float) -> "RunIn":
        return RunIn(**self.arm_fields(value))


def weight_matrices(model: str, depth: int) -> list[str]:
    """The penalized layers, in order (names as in the checkpoint's state_dict)."""
    if model == "cnn":
        return ["conv_1", "conv_2", "linear_1", "linear_2"]
    return [f"linear_{i}" for i in range(1, depth + 2)]


class ExperimentRules(Strict):
    """What every experiment model has besides its settings: the rules between them."""

    arm_model: ClassVar[type[ArmRules]]
    layer_lists: ClassVar[tuple[str, ...]]  # the arms' per weight matrix lists

    @field_validator("runs", check_fields=False)
    @classmethod
    def _unique_names(cls, runs: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for run in runs:
            key = run.name.casefold()
            if key in seen:
                raise ValueError(f"two arms are named {run.name!r}; arm names must differ")
            seen.add(key)
        return runs

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        """On a toy task, every setting the request leaves out takes the task's default (its
        data parameters, model, optimizer, lr, epochs; full batch): a request naming only the
        task, epochs, seed and arms trains what the task is meant to show."""
        dataset = data.get("dataset") if isinstance(data, dict) else None
        if isinstance(dataset, str) and dataset in TASK:
            data = {**data, **task_defaults(TASK[data["dataset"]], data)}
        return data

    @model_validator(mode="after")
    def _applies(self) -> Any:
        """A setting that does not apply to the chosen dataset or model is refused when given
        a value other than its default (a blank or default value is ignored: the form sends
        every field); a model that does not fit the dataset is refused on `model`."""
        errors = []
        if self.dataset not in MODEL_DATASETS[self.model]:
            kind = "a toy task" if self.dataset in TASK else "an image dataset"
            fits = ", ".join(m for m, ds in MODEL_DATASETS.items() if self.dataset in ds)
            errors.append(
                _error(
                    ("model",),
                    self.model,
                    f"the model {self.model} does not fit "
                    f"{self.dataset} ({kind}); choose one of {fits}",
                )
            )
        task = TASK.get(self.dataset)
        if task is not None and None not in (self.k, self.n_features) and self.k > self.n_features:
            errors.append(
                _error(("k",), self.k, f"k must be at most n_features ({self.n_features})")
            )
        own = [(s, (s.name,), getattr(self, s.name)) for s in self.setting_specs(shared=True)]
        for i, run in enumerate(self.runs):
            own += [
                (s, ("runs", i, s.name), getattr(run, s.name))
                for s in self.setting_specs(shared=False)
            ]
        fitting = not errors
        for s, loc, value in own:
            wrong_data = s.datasets is not None and self.dataset not in s.datasets
            wrong_model = fitting and s.models is not None and self.model not in s.models
            quiet = (
                (None, s.default, {**task.params, **task.defaults}.get(s.name))
                if task
                else (None, s.default)
            )
            if (wrong_data or wrong_model) and value not in quiet:
                where = (
                    ", ".join(sorted(s.datasets or ()))
                    if wrong_data
                    else ", ".join(sorted(s.models or ())) + " models"
                )
                on = self.dataset if wrong_data else f"the {self.model} model"
                errors.append(
                    _error(
                        loc, value, f"{s.name} applies to {where} only, not {on}; leave it blank"
                    )
                )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @classmethod
    def setting_specs(cls, shared: bool) -> tuple[Setting, ...]:
        return tuple(s for s in SPEC.settings if s.per_arm != shared and s.overrides is None)

    @model_validator(mode="after")
    def _expand_sweep(self) -> Any:
        if self.sweep is None:
            return self
        if "runs" in self.model_fields_set:
            raise ValueError("give either runs or a sweep, not both")
        if self.sweep.param == "mix" and (self.model != "mlp" or self.depth != 1):
            raise ValueError("the per-layer mix sweep needs the two-layer fully connected model")
        values = self.sweep.values()
        if len(values) > MAX_ARMS:
            raise ValueError(f"a sweep makes at most {MAX_ARMS} arms")
        self.runs = [self.arm_model(**self.sweep.arm_fields(v)) for v in values]
        return self

    @model_validator(mode="after")
    def _run_cap(self) -> Any:
        """Each arm trains once per repeat: arms x repeats runs, at most MAX_RUNS."""
        repeats = getattr(self, "repeats", 1)
        if len(self.runs) * repeats <= MAX_RUNS:
            return self
        runs = len(self.runs) * repeats
        error = PydanticCustomError(
            "too_many_runs",
            f"{len(self.runs)} arms x {repeats} repeats = {runs} runs, over the limit of "
            f"{MAX_RUNS} runs per experiment: use fewer repeats or arms",
        )
        details = InitErrorDetails(type=error, loc=("repeats",), input=repeats)
        raise ValidationError.from_exception_data(type(self).__name__, [details])

    @model_validator(mode="after")
    def _per_layer_lengths(self) -> Any:
        layers = weight_matrices(self.model, self.depth)
        errors = []
        for i, run in enumerate(self.runs):
            for key in self.layer_lists:
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
        config = self.model_dump(exclude={"name", "runs", "sweep"})
        if self.sweep is not None:
            config["sweep"] = self.sweep.model_dump(by_alias=True)
        return config

    def display_name(self) -> str:
        """The name given, else one that says what sets this experiment apart from others in a
        list: its data, its size, its epochs and what its arms compare, e.g.
        "MNIST 100/class, 500 hidden, 20 ep: Original vs Lasso vs Ridge"."""
        if self.name:
            return self.name
        data = DATASETS[self.dataset]
        if self.dataset in TASK:
            data += f" {self.n_train} pts"
        else:
            data += f" {self.train_per_class}/class" if self.train_per_class else " full"
        if self.model.startswith("simple_"):
            size = MODELS[self.model].split(" ")[0]
        elif self.model == "cnn":
            size = f"CNN {self.hidden}"
        else:
            size = (
                f"{self.depth}×{self.hidden} hidden" if self.depth > 1 else f"{self.hidden} hidden"
            )
        head = f"{data}, {size}, {self.epochs} ep"
        if self.sweep is not None:
            sw = self.sweep
            return f"{head}: {SWEEPS[sw.param]} sweep {sw.from_:g} to {sw.to:g}"
        names = [r.name for r in self.runs]
        if len(names) > 4:
            names = [*names[:3], f"{len(names) - 3} more"]
        return f"{head}: " + " vs ".join(names)


def _error(loc: tuple, value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("not_applicable", message), loc=loc, input=value
    )


def tutorial(arm_model: type[ArmRules]) -> Callable[[], list[Any]]:
    """The default arms: the tutorial's Original, Lasso and Ridge."""

    def arms() -> list[Any]:
        return [
            arm_model(name="Original"),
            arm_model(name="Lasso", l1=1e-4),
            arm_model(name="Ridge", l2=1e-3),
        ]

    return arms


def api_models(spec: Spec) -> tuple[Any, Any]:
    """(the arm model, the experiment model) of a spec: its settings with their types, defaults,
    bounds and descriptions, over the rules above."""
    arm_model = create_model(
        "RunIn",
        __base__=ArmRules,
        __doc__="One arm: its regularization. Zero everywhere is the unregularized Original.",
        __module__=__name__,
        name=(ArmName, ...),
        **{s.name: setting_field(s) for s in spec.arm},
    )
    runs = Field(default_factory=tutorial(arm_model), min_length=1, max_length=MAX_ARMS)
    sweep = Field(None, description="Expand into one arm per grid value (instead of listing runs).")
    experiment_model = create_model(
        "ExperimentIn",
        __base__=ExperimentRules,
        __doc__="An experiment: shared settings plus the arms to compare. Defaults: the tutorial.",
        __module__=__name__,
        name=(ExperimentName | None, None),
        **{s.name: setting_field(s) for s in spec.shared},
        runs=(list[arm_model], runs),
        sweep=(SweepIn | None, sweep),
    )
    experiment_model.arm_model = arm_model
    experiment_model.layer_lists = tuple(s.name for s in spec.arm if s.kind == Kind.floats)
    return arm_model, experiment_model


RunIn, ExperimentIn = api_models(SPEC)
SWEEP_PARAMS = SWEEPS


def tutorial_arms() -> list[Any]:
    return tutorial(RunIn)()


RunStatusName = Literal[tuple(s.value for s in RunStatus)]  # type: ignore[valid-type]


class RunPublic(RunBase):
    """A run as the API shows it: the stored fields (store.models.RunBase) and what is derived."""

    id: int
    status: RunStatusName  # type: ignore[valid-type]
    eta_seconds: float | None = Field(None, description="Estimated time left while running.")
    sweep_value: float | None = Field(None, description="This arm's value of the swept parameter.")
    checkpoint_url: str | None = Field(None, description="Set once the final checkpoint exists.")


class BestArm(BaseModel):
    run_id: int
    name: str
    val_acc: float = Field(description="Its validation accuracy at its latest epoch")
    epoch: int


class ExperimentPublic(BaseModel):
    id: int
    name: str
    created_at: datetime
    config: dict[str, Any]
    status: RunStatusName
    sweep: dict[str, Any] | None = Field(None, description="The swept parameter and its grid.")
    runs: list[RunPublic]
    notes: str = ""
    tags: list[str] = Field(default_factory=list)
    best: BestArm | None = Field(
        None, description="The arm with the best validation accuracy at its latest epoch"
    )


def plain_text(value: Any) -> Any:
    """Notes are free text over several lines: tabs and line breaks are fine, other control
    characters and invisible text-direction characters are not (as in names)."""
    if isinstance(value, str):
        for i, ch in enumerate(value):
            if ch in "\t\n\r":
                continue
            if unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS:
                raise PydanticCustomError(
                    "hidden_character",
                    "notes cannot contain control or invisible text-direction characters "
                    "(found U+{code} at position {pos})",
                    {"code": f"{ord(ch):04X}", "pos": i + 1},
                )
    return value


TAG_CHARS = re.compile(r"^[\w.+/:=-]{1,30}$")


def plain_tag(value: Any) -> Any:
    """A tag is one word of up to 30 letters, digits or . + / : = - _ (no spaces or commas)."""
    if isinstance(value, str):
        value = value.strip()
        if not TAG_CHARS.fullmatch(value):
            raise PydanticCustomError(
                "tag",
                "a tag is one word of 1 to 30 letters, digits or . + / : = - _ "
                "(no spaces or commas): '{tag}' is not",
                {"tag": value[:40]},
            )
    return value


def name_not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip(TRIMMED):
        raise PydanticCustomError("blank_name", "a name cannot be empty")
    return value


Tag = Annotated[str, BeforeValidator(plain_tag)]
MAX_TAGS = 20


class ExperimentPatch(Strict):
    """What a user may change of an experiment: its name, notes and tags. Fields left out stay."""

    name: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=80),
            BeforeValidator(name_not_blank),
            BeforeValidator(plain_name),
        ]
        | None
    ) = None
    notes: Annotated[str, Field(max_length=5000), BeforeValidator(plain_text)] | None = None
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        seen: dict[str, str] = {}
        for tag in tags:
            seen.setdefault(tag.casefold(), tag)
        return list(seen.values())


class CompareRun(BaseModel):
    run_id: int
    experiment_id: int
    experiment_name: str
    name: str
    status: RunStatusName
    config: dict[str, Any] = Field(description="The experiment's settings with the arm's over them")


class ComparePublic(BaseModel):
    runs: list[CompareRun]
    differing: list[str] = Field(description="Settings whose values differ between the runs")
    shared: dict[str, Any] = Field(description="Settings equal in every run")


EpochPublic = create_model(
    "EpochPublic",
    __module__=__name__,
    epoch=(int, ...),
    **{m.name: (float | None, Field(description=m.help)) for m in EPOCH_METRICS + DERIVED_METRICS},
    layers=(dict[str, dict[str, float]], ...),
    dead_units=(
        dict[str, float] | None,
        Field(None, description=DEAD_UNITS.help + " Per hidden layer; null before measured."),
    ),
)


class WeightsPublic(BaseModel):
    run_id: int
    epoch: int
    layer: str = Field(description="The weight matrix drawn: linear_1.weight, or the CNN's conv_1")
    image_shape: list[int] = Field(description="[C, H, W] of one tile")
    units: list[int] = Field(description="The units (rows) shown, the same for every arm")
    tiles: list[list[float]] = Field(
        description="Per unit, its incoming weights in state_dict order (float16-rounded)"
    )
    importance: list[float] = Field(
        description="Per input, the sum over all units of |w[unit, input]|"
    )


class MetricsPublic(BaseModel):
    run_id: int
    epochs: list[EpochPublic]


class FineHistogram(BaseModel):
    f: int = Field(description="80·2**f bins over the same ±base·2**level as counts")
    runs: list[list[int]] = Field(
        description="The bins that hold weights: [first bin (0 at -base·2**level), count, ...]"
    )


class LayerHistogram(BaseModel):
    edges: list[float] = Field(description="len(counts) + 1 bin edges")
    counts: list[int]
    level: int = Field(
        description="The bins cover ±base·2**level; see /api/experiments/{id}/histograms"
    )
    base: float = Field(description="Half-range of the level-0 bins, from the initial weights")
    fine: FineHistogram | None = Field(
        default=None, description="The same weights on a finer grid; null for older epochs"
    )


class HistogramsPublic(BaseModel):
    run_id: int
    epoch: int | None
    layers: dict[str, LayerHistogram]


class ExperimentHistogramsPublic(BaseModel):
    experiment_id: int
    runs: list[HistogramsPublic] = Field(
        description="One entry per arm; epoch null and no layers where the arm has no such epoch"
    )


class RunCurves(BaseModel):
    """One arm's metrics by column: list i of every field belongs to epoch[i]."""

    model_config = ConfigDict(extra="allow")
    run_id: int
    epoch: list[int]
    layers: dict[str, dict[str, list[float | None]]] = Field(
        description="Per weight matrix (`*.weight`; biases are in /api/runs/{id}/metrics), per "
        "statistic, one value per epoch (null if missing)"
    )


class CurvesPublic(BaseModel):
    experiment_id: int
    cursor: int = Field(description="The change id these curves include; stream after it")
    runs: list[RunCurves]


class CancelPublic(BaseModel):
    cancelled: int = Field(description="Queued arms cancelled at once.")
    stopping: int = Field(description="Running arms asked to stop (within a second).")
    experiment: ExperimentPublic


class PathPoint(BaseModel):
    run_id: int
    name: str
    value: float | None = Field(description="The arm's value of the swept parameter")
    status: RunStatusName
    epoch: int = Field(description="Latest epoch done (the final one once the arm succeeded)")
    checkpoint_url: str | None
    arm: int | None = Field(None, description="The arm's index; its repeats share it")
    seed: int | None = Field(None, description="The seed of this repeat")
    train_loss: float | None = None
    val_loss: float | None = None
    train_acc: float | None = None
    val_acc: float | None = None
    gap: float | None = None
    layers: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per weight matrix: mean_abs, zero_frac, near_zero_frac"
    )


class PathPublic(BaseModel):
    experiment_id: int
    param: str | None = Field(description="The swept parameter; null when this is no sweep")
    points: list[PathPoint]
    best_run_id: int | None = Field(description="The arm with the best validation accuracy")


class CompareCurvesPublic(BaseModel):
    cursor: int
    runs: list[RunCurves]


class RunDistribution(BaseModel):
    run_id: int
    epochs: list[int]
    values: list[list[float]] = Field(description="Per epoch, the weights' percentiles")


class DistributionsPublic(BaseModel):
    experiment_id: int
    layer: str | None = Field(description="The weight matrix shown (default: the first)")
    layers: list[str]
    percentiles: list[int] = Field(description="0 is the minimum, 100 the maximum")
    runs: list[RunDistribution]


class CompareHistogramsPublic(BaseModel):
    runs: list[HistogramsPublic]


class SummaryFigures(BaseModel):
    """An arm's figures less the reference arm's (null where either is missing)."""

    final_val_acc: float | None
    best_val_acc: float | None
    final_gap: float | None
    final_mean_abs: float | None
    final_near_zero_frac: float | None
    dead_units: float | None


class IntervalPublic(BaseModel):
    """A mean over seeds with its 95 % Student t interval (app.statistics.Interval)."""

    n: int = Field(description="Seeds with a value")
    seeds: list[int]
    left_out: list[int] = Field(description="Seeds without a value (not finished, failed...)")
    mean: float | None
    sd: float | None
    se: float | None
    low: float | None
    high: float | None
    reason: str | None = Field(description="Why there is no interval (one repeat...), or null")


class DifferencePublic(IntervalPublic):
    p_value: float | None = Field(description="Paired t-test, two-sided")
    significant: bool | None = Field(description="p < 0.05; null without a test")
    values: dict[str, float] = Field(description="The difference per seed")


class OverRepeats(BaseModel):
    """An arm's figures over its repeats (one run per seed): the figures above are the means."""

    arm: int = Field(0, description="The arm's index in the experiment")
    repeats: int = Field(1, description="Runs of this arm, one per seed")
    seeds: list[dict[str, Any]] = Field(
        default_factory=list, description="Each repeat's seed, run id, status and figures"
    )
    left_out: list[int] = Field(
        default_factory=list, description="Seeds of failed or cancelled repeats: not counted"
    )
    pending: int = Field(0, description="Repeats still queued or running")
    intervals: dict[str, IntervalPublic] = Field(
        default_factory=dict,
        description="final_val_acc, best_val_acc and final_gap: mean and 95 % t-interval over "
        "the seeds",
    )
    difference: DifferencePublic | None = Field(
        None,
        description="final_val_acc less the reference arm's, paired by seed, with a paired "
        "t-test; null for the reference arm",
    )
    sentence: str | None = Field(None, description="The difference in one plain sentence")


class ArmBase(OverRepeats):
    """What every arm's row of the summary has, whatever the task."""

    run_id: int
    name: str
    status: RunStatusName
    epochs_done: int = Field(description="The latest epoch with stored metrics")
    final_mean_abs: float | None = Field(description="Mean |w| of the first weight matrix")
    final_near_zero_frac: float | None = Field(
        description="Fraction of the first weight matrix with |w| < 1e-3"
    )
    dead_units: float | None = Field(
        description="Fraction of dead ReLU units of the first hidden layer at the latest epoch "
        "(null where not measured)"
    )


class SummaryArm(ArmBase):
    final_val_acc: float | None = Field(description="Validation accuracy at the latest epoch")
    best_val_acc: float | None
    best_epoch: int | None = Field(description="The first epoch that reached best_val_acc")
    final_gap: float | None = Field(description="train_acc - val_acc at the latest epoch")
    vs_reference: SummaryFigures = Field(description="Each figure less the reference arm's")


class SummaryPublic(BaseModel):
    kind: Literal["classification"] = "classification"
    reference: int | None = Field(
        description="The reference arm's run id: the arm named Original, else a sweep's zero "
        "arm, else the first"
    )
    repeats: int = Field(1, description="Runs per arm, one per seed")
    one_se: dict[str, Any] | None = Field(
        None,
        description="A sweep's best value by mean final validation accuracy (best, best_mean, "
        "best_se) and the largest value within one standard error of it (chosen); null "
        "elsewhere or before a value",
    )
    arms: list[SummaryArm]
    best: dict[str, int | None] = Field(
        description="Per figure the arm with the highest accuracy, the lowest gap, mean |w| "
        "and dead units, the highest near-zero fraction (null while no arm has it)"
    )


class RegressionFigures(BaseModel):
    """A regression arm's figures less the reference arm's (null where either is missing)."""

    final_val_r2: float | None
    best_val_r2: float | None
    final_val_loss: float | None
    final_gap: float | None
    final_mean_abs: float | None
    final_near_zero_frac: float | None
    dead_units: float | None


class RegressionArm(ArmBase):
    """A regression task's arm (MSE loss): R² where a classifier has accuracy, never one."""

    final_val_r2: float | None = Field(description="Validation R² at the latest epoch")
    best_val_r2: float | None
    best_epoch: int | None = Field(description="The first epoch that reached best_val_r2")
    final_val_loss: float | None = Field(description="Validation MSE at the latest epoch")
    final_gap: float | None = Field(description="train_r2 - val_r2 at the latest epoch")
    vs_reference: RegressionFigures = Field(description="Each figure less the reference arm's")


class RegressionSummaryPublic(BaseModel):
    kind: Literal["regression"]
    reference: int | None = Field(description="As for a classification task")
    repeats: int = Field(1, description="Runs per arm, one per seed")
    one_se: dict[str, Any] | None = Field(
        None, description="As for a classification task, by mean final validation R²"
    )
    arms: list[RegressionArm]
    best: dict[str, int | None] = Field(
        description="Per figure the arm with the highest R², the lowest loss, gap, mean |w| "
        "and dead units, the highest near-zero fraction (null while no arm has it)"
    )


# The verdict table's answer: a classification task's (accuracy) or a regression's (R², MSE).
AnySummaryPublic = Annotated[SummaryPublic | RegressionSummaryPublic, Field(discriminator="kind")]
