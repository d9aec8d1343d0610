"""The HTML form and pages: the same validation as the API, errors inline, nothing created."""

import json
import re

from sqlmodel import select

from store.engine import read_session
from store.models import Experiment
from tests.conftest import ROOT
from tests.factories import FORM


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
        "/static/js/main.js",
        "/static/app.css",
    ):
        assert client.get(path).status_code == 200, path


def test_the_page_script_is_es_modules_all_preloaded_and_all_served(client):
    """base.html loads static/js/main.js as a module and preloads every module; each import in
    each module names a file there (a missing one would break the whole page script)."""
    html = client.get("/").text
    assert '<script type="module" src="/static/js/main.js"></script>' in html
    assert 'src="/static/app.js"' not in html
    js = ROOT / "static" / "js"
    modules = sorted(p.name for p in js.glob("*.js"))
    assert re.findall(r'<link rel="modulepreload" href="/static/js/([^"]+)">', html) == modules
    for name in modules:
        r = client.get(f"/static/js/{name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
        for imported in re.findall(r'^import .* from "\./([^"]+)";$', r.text, re.M):
            assert imported in modules, (name, imported)
    assert set(modules) - {"main.js"} <= {
        m for name in modules for m in re.findall(r'from "\./([^"]+)"', (js / name).read_text())
    }  # every module is imported by another (none is left out of the page)


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
    assert 'id="error-epochs"' in html and "Must be 1 or more" in html
    assert 'id="error-lr"' in html and "Enter a number<" in html
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


def test_the_list_polls_only_while_arms_are_queued_or_running(client):
    assert client.get("/fragments/experiments").status_code == 286  # nothing to wait for
    assert 'hx-trigger="none"' in client.get("/").text
    exp = client.post("/api/experiments", json={"runs": [{"name": "a"}]}).json()
    assert client.get("/fragments/experiments").status_code == 200
    assert 'hx-trigger="every 2s"' in client.get("/").text
    client.post(f"/api/experiments/{exp['id']}/cancel")
    r = client.get("/fragments/experiments")
    assert r.status_code == 286 and "cancelled" in r.text  # the last answer is still shown


def test_the_home_page_filters_and_pages_from_its_url(client):
    for i in range(23):
        client.post("/api/experiments", json={"name": f"exp {i:02d}", "runs": [{"name": "a"}]})
    client.patch("/api/experiments/5", json={"tags": ["keep"], "notes": "needle"})
    html = client.get("/?page=2").text
    assert "exp 02" in html and "exp 03" not in html and "page 2 of 2" in html
    html = client.get("/?q=NEEDLE").text
    assert "1 experiment matches" in html and "exp 04" in html and "exp 05" not in html
    assert 'value="NEEDLE"' in html
    frag = client.get(
        "/fragments/experiments?tag=keep&status=queued&dataset=mnist",
        headers={"HX-Request": "true", "HX-Trigger": "experiment-filters"},
    )
    assert "exp 04" in frag.text and "exp 05" not in frag.text
    assert frag.headers["HX-Replace-Url"] == "/?tag=keep&status=queued&dataset=mnist"
    assert "No experiment matches" in client.get("/?dataset=cifar10").text
    assert client.get("/?status=nope").status_code == 422


def test_edit_as_new_fills_the_form_with_the_arms_or_the_sweep(client):
    arms = [{"name": "Original"}, {"name": "Tiny lasso", "l1": 0.0001, "dropout": 0.2}]
    exp = client.post("/api/experiments", json={"hidden": 64, "epochs": 3, "runs": arms}).json()
    html = client.get(f"/?from={exp['id']}").text
    assert 'id="edit-source"' in html
    assert 'name="hidden" value="64"' in html and 'name="epochs" value="3"' in html
    assert 'name="runs.1.name" value="Tiny lasso"' in html
    assert 'name="runs.1.l1" value="0.0001"' in html and 'name="runs.1.dropout" value="0.2"' in html
    assert 'name="name" value=""' in html  # a made-up name is made again from the new settings
    sweep = client.post(
        "/api/experiments", json={"sweep": {"param": "l1", "from": 0.001, "to": 0.1, "points": 3}}
    ).json()
    html = client.get(f"/?from={sweep['id']}").text
    assert 'id="sweep-enabled" checked' in html and 'name="sweep.param"' in html
    assert '<option value="l1" selected>' in html and 'name="sweep.from" value="0.001"' in html
    assert client.get("/?from=999").status_code == 404


def test_the_compare_page_shows_the_differing_settings_or_says_why_not(client):
    one = client.post("/api/experiments", json={"runs": [{"name": "a", "l2": 0.001}]}).json()
    two = client.post(
        "/api/experiments", json={"hidden": 64, "runs": [{"name": "b", "l2": 0.001}]}
    ).json()
    other = client.post("/api/experiments", json={"dataset": "cifar10", "runs": [{"name": "c"}]})
    ids = [one["runs"][0]["id"], two["runs"][0]["id"]]
    r = client.get(f"/compare?runs={ids[0]},{ids[1]}")
    assert r.status_code == 200
    rows = re.findall(r'<tr data-key="(\w+)">', r.text)
    assert rows == ["hidden"]
    assert "/api/compare/curves?runs=" in r.text and 'id="chart-loss"' in r.text
    r = client.get(f"/compare?runs={ids[0]},{other.json()['runs'][0]['id']}")
    assert r.status_code == 422 and "different datasets (CIFAR-10, MNIST)" in r.text
    r = client.get("/compare?runs=1,999")
    assert r.status_code == 404 and "Run 999 does not exist" in r.text
    assert client.get("/compare?runs=x").status_code == 422


def test_the_experiment_page_offers_annotate_run_again_edit_delete_and_export(client):
    exp = client.post("/api/experiments", json={"runs": [{"name": "a"}]}).json()
    client.patch(f"/api/experiments/{exp['id']}", json={"tags": ["v1"], "notes": "why"})
    html = client.get(f"/experiments/{exp['id']}").text
    for needle in (
        'data-action="run-again"',
        f'href="/?from={exp["id"]}#experiment-form"',
        'data-action="delete"',
        f'href="/api/experiments/{exp["id"]}/metrics.csv"',
        'href="/?tag=v1#experiments"',
        ">why</p>",
        'class="compare-pick"',
    ):
        assert needle in html, needle


def test_form_errors_are_in_plain_words(client):
    bad = {**FORM, "epochs": "2.5", "hidden": "0", "runs.1.dropout": "1", "runs.0.name": ""}
    html = client.post("/experiments", data=bad, headers={"HX-Request": "true"}).text
    errors = dict(re.findall(r'<p class="error" id="error-([\w-]+)">([^<]*)</p>', html))
    assert errors["epochs"] == "Enter a whole number"
    assert errors["hidden"] == "Must be 1 or more"
    assert errors["runs-1-dropout"] == "Must be less than 1"
    assert errors["runs-0-name"] == "Required"
