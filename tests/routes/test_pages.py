"""The HTML form and pages: the same validation as the API, errors inline, nothing created."""

import json
import re

from sqlmodel import select

from app.db.engine import read_session
from app.db.models import Experiment

FORM = {
    "name": "",
    "dataset": "mnist",
    "train_per_class": "20",
    "val_per_class": "20",
    "model": "mlp",
    "hidden": "32",
    "depth": "1",
    "optimizer": "adam",
    "lr": "0.001",
    "momentum": "0",
    "batch_size": "32",
    "epochs": "2",
    "seed": "0",
    "precision": "fp32",
    "runs.0.name": "Original",
    "runs.0.l1": "0",
    "runs.0.aug_flip": "on",
    "runs.1.name": "Lasso",
    "runs.1.l1": "0.0001",
    "runs.1.l2": "0",
    "runs.1.aug_flip": "on",
}


def n_experiments(engine):
    with read_session(engine) as s:
        return len(s.exec(select(Experiment)).all())


def test_home_page_shows_the_tutorial_prefilled(client):
    html = client.get("/").text
    assert 'name="train_per_class" value="100"' in html
    assert 'name="hidden" value="500"' in html and 'name="epochs" value="20"' in html
    assert re.findall(r'name="runs\.\d\.name" value="([^"]+)"', html) == [
        "Original",
        "Lasso",
        "Ridge",
    ]
    assert 'src="/static/vendor/htmx-2.0.11.min.js"' in html


def test_vendored_static_files_are_served(client):
    for path in (
        "/static/vendor/htmx-2.0.11.min.js",
        "/static/vendor/htmx-ext-sse-2.2.4.min.js",
        "/static/vendor/plotly-basic-4.1.1.min.js",
        "/static/app.js",
        "/static/app.css",
    ):
        assert client.get(path).status_code == 200, path


def test_valid_form_creates_the_experiment_and_redirects(client, engine):
    r = client.post("/experiments", data=FORM, headers={"HX-Request": "true"})
    assert r.status_code == 201 and r.headers["HX-Redirect"] == "/experiments/1"
    exp = client.get("/api/experiments/1").json()
    assert [x["name"] for x in exp["runs"]] == ["Original", "Lasso"]
    assert exp["runs"][1]["config"]["l1"] == 0.0001
    # Without htmx (no JavaScript), a plain redirect.
    r = client.post("/experiments", data=FORM, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/experiments/2"


def test_mixed_precision_from_the_form_is_stored_and_shown(client, engine):
    assert '<option value="bf16" >' in client.get("/").text.replace("  ", " ")
    r = client.post("/experiments", data={**FORM, "precision": "bf16"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/experiments/1").json()["config"]["precision"] == "bf16"
    assert "bf16 mixed precision" in client.get("/experiments/1").text
    bad = client.post(
        "/experiments", data={**FORM, "precision": "fp8"}, headers={"HX-Request": "true"}
    )
    assert bad.status_code == 422 and 'id="error-precision"' in bad.text
    assert n_experiments(engine) == 1


def test_invalid_form_shows_errors_inline_and_creates_nothing(client, engine):
    bad = {**FORM, "epochs": "0", "lr": "abc", "runs.1.l1": "-1"}
    r = client.post("/experiments", data=bad, headers={"HX-Request": "true"})
    assert r.status_code == 422
    html = r.text
    assert 'id="error-epochs"' in html and "greater than or equal to 1" in html
    assert 'id="error-lr"' in html and "Enter a number." in html
    assert 'id="error-runs-1-l1"' in html
    assert 'value="abc"' in html  # what the user typed is kept for them to correct
    assert n_experiments(engine) == 0


def test_duplicate_arm_names_are_reported_on_the_arms(client, engine):
    bad = {**FORM, "runs.0.name": "Same", "runs.1.name": "same"}
    r = client.post("/experiments", data=bad, headers={"HX-Request": "true"})
    assert r.status_code == 422 and 'id="error-runs"' in r.text and "must differ" in r.text
    assert n_experiments(engine) == 0


def test_experiment_page_embeds_what_is_stored_and_the_stream_cursor(client):
    exp = client.post("/api/experiments", json={"epochs": 2, "runs": [{"name": "a"}]}).json()
    html = client.get(f"/experiments/{exp['id']}").text
    data = json.loads(re.search(r'id="experiment-data">(.*?)</script>', html, re.S).group(1))
    assert data["runs"][0]["name"] == "a" and "metrics" not in data["runs"][0]
    assert f'sse-connect="/api/experiments/{exp["id"]}/events?after={data["cursor"]}"' in html
    assert 'id="cancel-button"' in html


def test_cancel_from_the_page_returns_the_new_status(client):
    exp = client.post("/api/experiments", json={"runs": [{"name": "a"}]}).json()
    r = client.post(f"/experiments/{exp['id']}/cancel")
    assert r.status_code == 200 and "cancelled" in r.text and "cancel-button" not in r.text


def test_home_lists_experiments_newest_first(client):
    for name in ("first", "second"):
        client.post("/api/experiments", json={"name": name, "runs": [{"name": "a"}]})
    html = client.get("/fragments/experiments").text
    assert html.index("second") < html.index("first")
    assert "a: queued" in html
