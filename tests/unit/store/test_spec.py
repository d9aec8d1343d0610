"""The experiment spec (store.spec) is the one place settings, datasets and measurements are
declared: the API models, the form, the worker's config, the work estimate and the docs' table
all follow it."""

import dataclasses
import re

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from app import forms, limits
from app.schemas import (
    EpochPublic,
    ExperimentIn,
    RunIn,
    RunPublic,
    RunStatusName,
    api_models,
)
from app.templating import templates
from store import spec as S
from store.models import EpochMetric, RunBase, RunStatus
from worker import data as D
from worker.config import TrainConfig, train_config_class

# A shared setting for one dataset only (as a new task's would be), and an arm's own (named
# apart from the toy tasks' shared `noise`).
WARMUP = S.Setting(
    "warmup",
    S.Kind.int,
    2,
    "Warm-up epochs",
    "Epochs of linear learning-rate warm-up.",
    ge=0,
    le=10,
    hint="0: none",
    datasets=frozenset({"cifar10"}),
)
NOISE = S.Setting(
    "input_noise",
    S.Kind.float,
    0.0,
    "Input noise sigma",
    "Gaussian noise added to training images.",
    S.Scope.arm,
    S.Group.arm,
    ge=0,
    le=2,
    short="Noise σ",
    lockstep=True,
)
EXTENDED = S.SPEC.with_setting(WARMUP).with_setting(NOISE)


def render_form(form: forms.Form, body) -> str:
    tpl = templates.env.get_template("_form.html")
    return tpl.render(values=form.values(body), errors={}, FORM=form)


def test_a_new_setting_is_one_spec_entry_for_api_form_and_worker():
    arm_model, experiment_model = api_models(EXTENDED)
    # The API: its default, its bounds, its description.
    body = experiment_model(runs=[arm_model(name="Noisy", input_noise=0.5)])
    assert body.warmup == 2 and body.runs[0].input_noise == 0.5
    assert body.shared_config()["warmup"] == 2 and body.runs[0].arm_config()["input_noise"] == 0.5
    with pytest.raises(ValidationError) as err:
        experiment_model(warmup=11, runs=[{"name": "A", "input_noise": -1}])
    assert {e["loc"] for e in err.value.errors()} == {("warmup",), ("runs", 0, "input_noise")}
    schema = experiment_model.model_json_schema()
    assert schema["properties"]["warmup"]["maximum"] == 10
    assert schema["properties"]["warmup"]["description"] == WARMUP.help

    # The form: rendered with its label, bounds and note; parsed back with the same rules.
    form = forms.Form(EXTENDED, experiment_model, arm_model)
    html = render_form(form, body)
    assert re.search(r'name="warmup" value="2"\s+min="0" max="10"\s+step="1"', html)
    assert "<span>Warm-up epochs</span>" in html and "<small>0: none</small>" in html
    assert "<th>Noise σ</th>" in html and 'name="runs.0.input_noise" value="0.5"' in html
    assert 'name="runs.__i__.input_noise" value="0"' in html  # a new arm's row
    config = body.shared_config().items()
    defaults = [(k, "" if v is None else str(v)) for k, v in config if k != "warmup"]
    typed = [*defaults, ("warmup", "3"), ("runs.0.name", "A"), ("runs.0.input_noise", "0.25")]
    _, parsed, errors = form.parse(FormData(typed))
    assert errors == {} and parsed.warmup == 3 and parsed.runs[0].input_noise == 0.25
    _, parsed, errors = form.parse(FormData([*defaults, ("warmup", "12"), ("runs.0.name", "A")]))
    assert parsed is None and errors == {"warmup": "Must be 10 or less"}

    # The worker: a TrainConfig field with the spec's default; stacked arms may differ in it.
    config_class = train_config_class(EXTENDED)
    cfg = config_class.from_dict({**body.shared_config(), **body.runs[0].arm_config()})
    assert cfg.warmup == 2 and cfg.input_noise == 0.5 and config_class().input_noise == 0.0
    assert (
        "input_noise" in config_class.lockstep_fields
        and "warmup" not in config_class.lockstep_fields
    )

    # The docs: a row saying where it applies.
    assert "| `warmup` | experiment | `2` | ≥ 0, ≤ 10 | CIFAR-10 |" in S.settings_table(EXTENDED)


def test_the_default_spec_leaves_the_extended_one_apart():
    assert "warmup" not in ExperimentIn.model_fields and "input_noise" not in RunIn.model_fields
    assert "warmup" not in {f.name for f in dataclasses.fields(TrainConfig)}


def test_every_setting_is_in_the_api_schema_the_form_the_config_and_the_docs():
    shared = ExperimentIn.model_json_schema()["properties"]
    arm = RunIn.model_json_schema()["properties"]
    html = render_form(forms.FORM, ExperimentIn())
    config = {f.name for f in dataclasses.fields(TrainConfig)}
    table = S.settings_table()
    for s in S.SPEC.settings:
        assert s.name in (arm if s.per_arm else shared), s.name
        field = f'name="runs.0.{s.name}"' if s.per_arm else f'name="{s.name}"'
        assert field in html, s.name
        assert s.name in config, s.name  # an arm's override sets the shared field
        assert f"| `{s.name}` |" in table, s.name


def test_train_config_keeps_its_attribute_names_and_defaults():
    cfg = TrainConfig()
    assert dataclasses.asdict(cfg) == {
        "dataset": "mnist",
        "train_per_class": 100,
        "val_per_class": 300,
        "model": "mlp",
        "hidden": 500,
        "depth": 1,
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.0,
        "batch_size": 32,
        "epochs": 20,
        "seed": 0,
        "precision": "fp32",
        "repeats": 1,
        # A toy task's data parameters: None (an image dataset, or the task's default).
        "n_train": None,
        "n_val": None,
        "noise": None,
        "n_features": None,
        "k": None,
        "factor": None,
        "turns": None,
        "arm": "original",
        "l1": 0.0,
        "l2": 0.0,
        "l1_layers": None,
        "l2_layers": None,
        "penalize_bias": False,
        "prox_l1": 0.0,
        "weight_decay": 0.0,
        "dropout": 0.0,
        "batchnorm": False,
        "augment": False,
        "aug_flip": True,
        "aug_rotate": 15.0,
        "aug_scale": 0.8,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.l1 = 1.0  # type: ignore[misc]
    layered = TrainConfig.from_dict({"l1_layers": [0.1, 0.0], "l2": 0.5, "unknown": 1})
    assert layered.l1_layers == (0.1, 0.0) and layered.to_dict()["l1_layers"] == [0.1, 0.0]
    assert layered.layer_lambdas(2) == [(0.1, 0.5), (0.0, 0.5)]
    assert hash(layered) == hash(TrainConfig.from_dict(layered.to_dict()))


def test_lockstep_stacks_only_arms_differing_in_their_penalties():
    assert TrainConfig.lockstep_fields == {
        "arm",
        "l1",
        "l2",
        "l1_layers",
        "l2_layers",
        "penalize_bias",
        "prox_l1",
        "weight_decay",
    }


def test_dataset_facts_feed_the_worker_and_the_work_estimate():
    assert {d.key: d.shape for d in S.DATASETS} == D.IMAGE_SHAPES and D.NUM_CLASSES == 10
    assert set(D.DATASETS) == set(S.DATASET)
    # The tutorial's 784 -> 500 -> 10 network on 100 images of each of 10 classes.
    tutorial = ExperimentIn()
    assert limits.parameter_count(tutorial) == 784 * 500 + 500 + 500 * 10  # output biases left out
    assert limits.training_images(tutorial) == 1000
    assert limits.training_images(ExperimentIn(dataset="cifar10", train_per_class=None)) == 50_000
    cnn = ExperimentIn(dataset="cifar10", model="cnn", hidden=8)
    assert limits.parameter_count(cnn) == (3 * 9 * 32 + 32) + (32 * 9 * 64 + 64) + 4096 * 8 + 8 + 80


def test_measurement_names_are_the_stored_and_served_ones():
    columns = set(EpochMetric.model_fields)
    assert set(S.METRIC_NAMES) <= columns
    served = set(EpochPublic.model_fields)
    assert {*S.METRIC_NAMES, *(m.name for m in S.DERIVED_METRICS)} <= served


def test_run_models_share_one_base_and_statuses_one_enum():
    assert set(RunBase.model_fields) <= set(RunPublic.model_fields)
    assert set(RunStatusName.__args__) == {s.value for s in RunStatus}


def test_the_settings_table_has_one_row_of_six_cells_per_setting():
    rows = S.settings_table().splitlines()[2:]
    assert len(rows) == len(S.SPEC.settings)
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 7, row  # pipes in text are escaped


def test_sweeps_vary_arm_settings():
    arm = {s.name for s in S.SPEC.arm}
    assert set(S.SWEEPS) - {"mix"} <= arm and set(S.SWEEPS) >= S.LINEAR_SWEEPS
