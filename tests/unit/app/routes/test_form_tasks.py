"""The form shows only the fields that apply to the chosen task: each restricted field carries
where it applies (data attributes from the spec's `datasets=` / `models=`), the task picker
groups image datasets and toy tasks, model options say which tasks they fit, and a field the
page's script disabled (so not sent) takes its default."""

import json
import re
from html.parser import HTMLParser

from app import forms
from app.schemas import ExperimentIn, api_models
from store import spec as S
from tests.unit.app.routes.test_pages import FORM
from tests.unit.store.test_spec import EXTENDED, WARMUP, render_form


class Elements(HTMLParser):
    """Every start tag with its attributes, and for each form field the attributes of its
    nearest enclosing label or table cell (the element the script hides)."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.fields: dict[str, dict[str, str | None]] = {}
        self.options: dict[str, list[tuple[str, dict[str, str | None]]]] = {}
        self.group: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "optgroup":
            self.group = a.get("label")
        if tag == "option":
            self.options.setdefault(self.group or "", []).append((a.get("value") or "", a))
        if tag in ("input", "select") and a.get("name"):
            holder = next((at for t, at in reversed(self.stack) if t in ("label", "td", "div")), {})
            self.fields.setdefault(a["name"], holder)
        if tag not in ("input", "option", "br", "img", "link", "meta"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        if tag == "optgroup":
            self.group = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def keys(value: frozenset[str] | None) -> str | None:
    return None if value is None else " ".join(sorted(value))


def test_every_restricted_field_says_where_it_applies(client):
    page = Elements(client.get("/").text)
    for s in S.SPEC.settings:
        name = f"runs.0.{s.name}" if s.per_arm else s.name
        holder = page.fields[name]
        assert holder.get("data-datasets") == keys(s.datasets), s.name
        assert holder.get("data-models") == keys(s.models), s.name
    # The depth of a fully connected network means nothing to the CNN.
    assert page.fields["depth"]["data-models"] == "mlp"
    assert "data-models" not in page.fields["epochs"] and "data-datasets" not in page.fields["seed"]


def test_a_setting_for_one_task_renders_its_task():
    arm_model, experiment_model = api_models(EXTENDED)
    form = forms.Form(EXTENDED, experiment_model, arm_model)
    page = Elements(render_form(form, experiment_model()))
    assert page.fields["warmup"]["data-datasets"] == "cifar10" == keys(WARMUP.datasets)
    assert "data-datasets" not in page.fields["runs.0.input_noise"]
    assert "data-datasets" not in page.fields["epochs"]


def test_the_task_picker_groups_image_datasets_and_toy_tasks(client):
    html = client.get("/").text
    select = re.search(r'<select name="dataset">(.*?)</select>', html, re.S).group(1)
    page = Elements(select)
    images = [k for k, _ in page.options["Image datasets"]]
    assert images == [d.key for d in S.DATASETS]
    toys = [k for k, _ in page.options.get("Toy tasks", [])]
    assert set(images) | set(toys) == set(S.SPEC.get("dataset").choices or {})
    assert not set(images) & set(toys) and "" not in page.options  # every option in a group


def test_model_options_name_the_tasks_they_fit(client):
    html = client.get("/").text
    select = re.search(r'<select name="model">(.*?)</select>', html, re.S).group(1)
    options = dict(Elements(select).options[""])
    for model in S.SPEC.get("model").choices or {}:
        assert options[model].get("data-datasets") == keys(forms.model_fits(model)), model


def test_a_field_the_script_disabled_is_not_sent_and_takes_its_default(client):
    # The CNN's form: depth does not apply, so the script disabled it and the browser left it
    # out; the experiment is created with the default, not refused as a blank field.
    data = {k: v for k, v in FORM.items() if k != "depth"}
    r = client.post("/experiments", data={**data, "model": "cnn"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/experiments/1").json()["config"]["depth"] == ExperimentIn().depth
    # A field that is sent blank is still an error.
    r = client.post("/experiments", data={**FORM, "depth": ""}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and 'id="error-depth"' in r.text
    # The form shown again with the error keeps the unsent fields at their defaults.
    data = {k: v for k, v in FORM.items() if k != "hidden"}
    r = client.post("/experiments", data={**data, "depth": ""}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and f'name="hidden" value="{ExperimentIn().hidden}"' in r.text


def test_the_toy_tasks_are_grouped_and_fill_in_their_defaults(client):
    html = client.get("/").text
    select = re.search(r'<select name="dataset">(.*?)</select>', html, re.S).group(1)
    options = Elements(select).options
    assert [k for k, _ in options["Toy tasks"]] == [t.key for t in S.TASKS]
    for key, attrs in options["Toy tasks"]:
        # Picking the task fills in what the API would take for a request that leaves it out.
        assert json.loads(attrs["data-defaults"]) == S.task_defaults(S.TASK[key], {})
    mnist = json.loads(dict(options["Image datasets"])["mnist"]["data-defaults"])
    assert mnist["model"] == "mlp" and mnist["batch_size"] == ExperimentIn().batch_size
    assert "n_train" not in mnist  # no task's data parameter applies to images


def test_models_that_do_not_fit_a_task_say_so(client):
    html = client.get("/").text
    select = re.search(r'<select name="model">(.*?)</select>', html, re.S).group(1)
    options = dict(Elements(select).options[""])
    assert set(options["cnn"]["data-datasets"].split()) == {d.key for d in S.DATASETS}
    assert "moons" in options["simple_net"]["data-datasets"].split()
    assert "mnist" not in options["simple_net"]["data-datasets"].split()
    assert "data-datasets" not in options["mlp"]  # fits every task


def page_of(client, **body) -> tuple[str, dict]:
    r = client.post("/api/experiments", json={"epochs": 2, **body})
    assert r.status_code == 201, r.text
    html = client.get(f"/experiments/{r.json()['id']}").text
    data = json.loads(re.search(r'id="experiment-data">(.*?)</script>', html, re.S).group(1))
    return html, data


def verdict_headers(html: str) -> list[str]:
    head = re.search(r'<table class="verdict">.*?<thead>(.*?)</thead>', html, re.S).group(1)
    return re.findall(r"<th[^>]*>([^<]*)</th>", head)


def test_a_toy_task_page_has_its_function_view_and_a_regression_no_accuracy(client):
    html, data = page_of(client, dataset="moons", runs=[{"name": "a"}, {"name": "b", "l2": 0.01}])
    assert re.search(r'<section[^>]*id="functions"[^>]*data-view="boundary"', html)
    assert data["task_kind"] == "classification" and "final val. acc." in verdict_headers(html)

    html, data = page_of(client, dataset="poly1d", runs=[{"name": "a"}])
    assert 'data-view="curve"' in html and data["task_kind"] == "regression"
    heads = verdict_headers(html)
    assert "final val. R²" in heads and not [h for h in heads if "acc" in h], heads

    html, data = page_of(
        client, dataset="noise_regression", model="simple_net", runs=[{"name": "a"}]
    )
    assert 'id="functions"' not in html and data["task_kind"] == "regression"

    html, data = page_of(client, runs=[{"name": "a"}])  # an image dataset: as before
    assert 'id="functions"' not in html and data["task_kind"] == "classification"
