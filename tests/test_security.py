"""Hostile input and hostile neighbours: clear answers, nothing changed, nobody else gets in."""

import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db.engine import read_session
from app.db.models import Experiment, Run
from app.main import create_app
from tests.conftest import ROOT, settings_env

GOOD = {"train_per_class": 5, "val_per_class": 5, "epochs": 1, "hidden": 8, "runs": [{"name": "a"}]}


def rows(engine):
    with read_session(engine) as s:
        return len(s.exec(select(Experiment)).all()), len(s.exec(select(Run)).all())


# ---- bad input ----


@pytest.mark.parametrize(
    "patch",
    [
        {"epochs": 10**12},
        {"batch_size": -1},
        {"hidden": 0},
        {"depth": 99},
        {"train_per_class": 0},
        {"val_per_class": 10**6},
        {"lr": 0},
        {"lr": 1e9},
        {"lr": "fast"},
        {"lr": None},
        {"momentum": 1.0},
        {"seed": -1},
        {"dataset": "../../etc"},
        {"model": "transformer"},
        {"runs": [{"name": "a", "dropout": 1.0}]},
        {"runs": [{"name": "a", "dropout": -0.1}]},
        {"runs": [{"name": "a", "l2": "Infinity"}]},
        {"runs": [{"name": "a", "l1": [1]}]},
        {"runs": [{"name": "a", "aug_rotate": 720}]},
        {"runs": [{"name": "a", "aug_scale": 0}]},
        {"runs": [{"name": "a", "weight_decay": -1}]},
        {"runs": [{"name": "a", "prox_l1": 2}]},
        {"runs": [{"name": "a", "l1_layers": [0.1, 0.1, 0.1]}]},
        {"runs": [{"name": "<script>alert(1)</script>"}]},
        {"runs": [{"name": "x" * 41}]},
        {"runs": [{"name": f"a{i}"} for i in range(17)]},
        {"runs": [{"name": "a", "evil": 1}]},
        {"name": "x" * 81},
        {"__proto__": {}},
    ],
)
def test_hostile_fields_answer_422_per_field_and_change_nothing(client, engine, patch):
    r = client.post("/api/experiments", json={**GOOD, **patch})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail and all("loc" in d and d["msg"] for d in detail)
    assert rows(engine) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"x"',
        b'{"epochs": 1e999}',
        b'{"lr": NaN}',
        b'{"lr": -Infinity}',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_answer_422(client, engine, body):
    r = client.post("/api/experiments", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, (body, r.status_code, r.text)
    assert rows(engine) == (0, 0)


def test_oversized_body_is_refused_before_it_is_read(client, engine):
    big = b'{"name": "' + b"x" * 100_000 + b'"}'
    r = client.post("/api/experiments", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert rows(engine) == (0, 0)


def test_too_much_work_is_refused_with_its_reason(client, engine):
    huge = {
        **GOOD,
        "train_per_class": None,
        "hidden": 4096,
        "depth": 8,
        "epochs": 200,
        "runs": [{"name": f"a{i}"} for i in range(12)],
    }
    r = client.post("/api/experiments", json=huge)
    assert r.status_code == 422 and "REGLAB_MAX_WORK" in r.json()["detail"][0]["msg"]
    form = {
        "dataset": "mnist",
        "train_per_class": "",
        "val_per_class": "",
        "model": "mlp",
        "hidden": "4096",
        "depth": "8",
        "optimizer": "adam",
        "lr": "0.001",
        "momentum": "0",
        "batch_size": "32",
        "epochs": "200",
        "seed": "0",
        "precision": "fp32",
        "runs.0.name": "a",
        "runs.1.name": "b",
        "runs.2.name": "c",
    }
    r = client.post("/experiments", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 422 and 'id="error-form"' in r.text and "too large" in r.text
    assert rows(engine) == (0, 0)


@pytest.mark.parametrize(
    "path",
    [
        "/api/experiments/0",
        "/api/experiments/-1",
        "/api/experiments/abc",
        "/api/experiments/99999999999999999999999",
        "/api/runs/1e3/metrics",
        "/api/runs/1/histograms?epoch=-5",
        "/api/experiments?limit=100000",
    ],
)
def test_bad_ids_and_queries_answer_4xx_never_500(client, path):
    assert client.get(path).status_code in (404, 422)


# ---- files ----


@pytest.mark.parametrize(
    "fmt",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "pt/../../x",
        "%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
        "pt%00.txt",
    ],
)
def test_checkpoint_downloads_take_no_path_from_the_request(client, fmt):
    client.post("/api/experiments", json=GOOD)
    r = client.get(f"/api/runs/1/checkpoint?format={fmt}")
    assert r.status_code == 422
    for path in (
        "/api/runs/..%2F..%2Fetc%2Fpasswd/checkpoint",
        "/static/../app/settings.py",
        "/static/%2e%2e/app/settings.py",
        "/static/..%2F..%2Fpyproject.toml",
    ):
        assert client.get(path).status_code in (404, 422), path


# ---- network ----


def test_foreign_host_header_is_refused(client):
    r = client.get("/api/experiments", headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "Host" in r.json()["detail"]
    assert client.get("/api/experiments", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/api/experiments", headers={"Host": "localhost"}).status_code == 200


def test_cross_site_writes_are_refused(client, engine):
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ):
        r = client.post("/api/experiments", json=GOOD, headers=headers)
        assert r.status_code == 403, headers
    assert rows(engine) == (0, 0)
    same = client.post("/api/experiments", json=GOOD, headers={"Origin": "http://testserver"})
    assert same.status_code == 201


def test_security_headers_on_every_answer(client):
    for path in ("/", "/api/experiments", "/static/app.js", "/api/experiments/999"):
        h = client.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]


def test_token_protects_every_request(settings):
    settings.token = "s3cret-token-for-tests"
    with TestClient(create_app(settings), follow_redirects=False) as c:
        assert c.get("/api/experiments").status_code == 401
        assert c.post("/api/experiments", json=GOOD).status_code == 401
        page = c.get("/experiments/1")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/experiments/1"
        assert c.get("/static/app.css").status_code == 200  # nothing secret there
        ok = c.get("/api/experiments", headers={"Authorization": "Bearer s3cret-token-for-tests"})
        assert ok.status_code == 200
        bad = c.post("/login", data={"token": "guess", "next": "/"})
        assert bad.status_code == 401 and "not the token" in bad.text
        good = c.post("/login", data={"token": "s3cret-token-for-tests", "next": "//evil.example"})
        assert good.status_code == 303 and good.headers["location"] == "/"  # no open redirect
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert c.get("/api/experiments").status_code == 200  # the cookie now rides along


def test_reglab_refuses_a_public_address_without_a_token(settings):
    env = settings_env(settings)
    for command in (["serve", "--host", "0.0.0.0"], ["up", "--host", "0.0.0.0", "--workers", "0"]):
        p = subprocess.run(
            [sys.executable, "-m", "app.cli", *command],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode != 0 and "REGLAB_TOKEN" in p.stderr, p.stderr


# ---- streams ----


def test_streams_end_with_their_clients_and_are_capped(settings, processes):
    settings.max_streams = 5
    url = processes.server()
    exp = httpx.post(f"{url}/api/experiments", json=GOOD).json()
    events = f"{url}/api/experiments/{exp['id']}/events"
    for _ in range(50):  # connect, read the first event, drop
        with httpx.stream("GET", events, timeout=10) as r:
            assert r.status_code == 200
            next(r.iter_lines())
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/api/health").json()["streams"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{url}/api/health").json()["streams"] == 0  # no task left behind
    held = [httpx.stream("GET", events, timeout=10) for _ in range(5)]
    opened = [h.__enter__() for h in held]
    try:
        assert all(r.status_code == 200 for r in opened)
        over = httpx.get(events, timeout=10)
        assert over.status_code == 503 and over.headers["retry-after"] == "5"
    finally:
        for h in held:
            h.__exit__(None, None, None)
