"""The form shows only the fields that apply to the chosen task: each restricted field carries
where it applies (data attributes from the spec's `datasets=` / `models=`), the task picker
groups image datasets and toy tasks, model options say which tasks they fit, and a field the
page's script disabled (so not sent) takes its default."""

import re
from html.parser import HTMLParser

from app import forms
from app.schemas import ExperimentIn, api_models
from store import spec as S
from tests.routes.test_pages import FORM
from tests.test_spec import EXTENDED, WARMUP, render_form


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
    assert "data-models" not in page.fields["hidden"]


def test_a_setting_for_one_task_renders_its_task():
    arm_model, experiment_model = api_models(EXTENDED)
    form = forms.Form(EXTENDED, experiment_model, arm_model)
    page = Elements(render_form(form, experiment_model()))
    assert page.fields["warmup"]["data-datasets"] == "cifar10" == keys(WARMUP.datasets)
    assert "data-datasets" not in page.fields["runs.0.noise"]
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
