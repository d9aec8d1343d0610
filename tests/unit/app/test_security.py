"""Hostile input and hostile neighbours: clear answers, nothing changed, nobody else gets in."""

import hashlib
import hmac

import click
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.cli import check_bind
from app.main import create_app
from app.security import (
    MAX_TOKEN_FAILURES,
    TOKEN_COOKIE,
    TOKEN_FAILURE_WINDOW_S,
    TokenThrottle,
    cookie_value,
    is_loopback,
)
from store.engine import read_session
from store.models import Experiment, Run
from tests.factories import ONE_ARM


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
        {"name": "Ridge\u202e1.0 = l2"},
        {"name": "a\x00b"},
        {"name": "two\nlines"},
        {"name": "a\u2066b\u2069"},
        {"runs": [{"name": "a\u200fb"}]},
        {"runs": [{"name": "a\u061cb"}]},
        {"runs": [{"name": "a\x1bb"}]},
    ],
)
def test_hostile_fields_answer_422_per_field_and_change_nothing(client, engine, patch):
    r = client.post("/api/experiments", json={**ONE_ARM, **patch})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail and all("loc" in d and d["msg"] for d in detail)
    assert rows(engine) == (0, 0)


def test_names_refuse_control_and_direction_characters_in_plain_words(client, engine):
    r = client.post("/api/experiments", json={**ONE_ARM, "name": "Ridge\u202e3-e1"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert (
        err["loc"] == ["body", "name"] and "text-direction" in err["msg"] and "U+202E" in err["msg"]
    )
    r = client.post("/api/experiments", json={**ONE_ARM, "runs": [{"name": "a\tb"}]})
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "runs", 0, "name"] and "control characters" in err["msg"]
    form = {"dataset": "mnist", "epochs": "1", "runs.0.name": "a\u2067b"}
    page = client.post("/experiments", data=form, headers={"HX-Request": "true"})
    assert page.status_code == 422 and "invisible text-direction characters" in page.text
    assert rows(engine) == (0, 0)
    # Letters of any script are names; spaces at either end are trimmed as before.
    names = [" λ-test ", "测试", "Ridge (l2=1e-3)", "Ελληνικά", "עברית"]
    r = client.post("/api/experiments", json={**ONE_ARM, "runs": [{"name": n} for n in names]})
    assert r.status_code == 201, r.text
    assert [x["name"] for x in r.json()["runs"]] == [n.strip() for n in names]


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


@pytest.mark.parametrize("length", ["\u00b2", "-1", "9" * 5000, "", "1e3", " 12"])
def test_a_malformed_content_length_answers_400(client, engine, length):
    r = client.post(
        "/api/experiments",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": length.encode("latin-1")},
    )
    assert r.status_code == 400 and "Content-Length" in r.json()["detail"], r.text
    assert rows(engine) == (0, 0)


def test_too_much_work_is_refused_with_its_reason(client, engine):
    huge = {
        **ONE_ARM,
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
        "/api/experiments?q=" + "x" * 101,
        "/api/experiments?tag=a%00b",
        "/api/experiments?status=../../etc",
        "/api/experiments?dataset=%27%20OR%201%3D1",
        "/api/experiments/1/metrics.csv",
        "/api/compare?runs=99999999999999999999999",
        "/api/compare?runs=1,,,,%00",
        "/api/compare?runs=" + ",".join(["1"] * 200),
        "/api/compare/curves?runs=%E2%91%A0",  # a circled digit: isdigit() yet no int
        "/api/compare/histograms?runs=1&epoch=-1",
        "/compare?runs=abc",
        "/compare?runs=7",
    ],
)
def test_bad_ids_and_queries_answer_4xx_never_500(client, path):
    assert client.get(path).status_code in (404, 422)


def test_changes_to_experiments_refuse_other_sites_and_change_nothing(client, engine):
    """DELETE, PATCH and clone pass the same Origin guard as every write."""
    exp = client.post("/api/experiments", json=ONE_ARM).json()
    hostile = (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    )
    for headers in hostile:
        url = f"/api/experiments/{exp['id']}"
        assert client.delete(url, headers=headers).status_code == 403
        assert client.patch(url, json={"name": "pwned"}, headers=headers).status_code == 403
        assert client.post(url + "/clone", headers=headers).status_code == 403
    assert rows(engine) == (1, 1)
    assert client.get(f"/api/experiments/{exp['id']}").json()["name"] == exp["name"]
    same = {"Origin": "http://testserver"}
    assert (
        client.patch(f"/api/experiments/{exp['id']}", json={"name": "ok"}, headers=same).status_code
        == 200
    )
    assert client.delete(f"/api/experiments/{exp['id']}", headers=same).status_code == 204
    assert rows(engine) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "<script>alert(1)</script>\u202e"},
        {"name": None, "notes": 5},
        {"notes": "x" * 5001},
        {"tags": "solo"},
        {"tags": [["nested"]]},
        {"tags": ["<b>", "a" * 31]},
        {"tags": ["ok", "x\u0000"]},
        {"notes": "bell\u0007"},
        [],
        {"name": float("nan")},
    ],
)
def test_hostile_annotations_answer_422_and_change_nothing(client, body):
    exp = client.post("/api/experiments", json=ONE_ARM).json()
    r = client.patch(f"/api/experiments/{exp['id']}", content=__import__("json").dumps(body))
    assert r.status_code == 422, r.text
    assert all(d["msg"] for d in r.json()["detail"])
    again = client.get(f"/api/experiments/{exp['id']}").json()
    assert (again["name"], again["notes"], again["tags"]) == (exp["name"], "", [])


def test_annotations_render_as_text_never_markup(client):
    exp = client.post("/api/experiments", json=ONE_ARM).json()
    body = {"name": "<img src=x onerror=alert(1)>", "notes": "</textarea><script>alert(2)</script>"}
    assert client.patch(f"/api/experiments/{exp['id']}", json=body).status_code == 200
    for path in ("/", f"/experiments/{exp['id']}", f"/compare?runs={exp['runs'][0]['id']}"):
        html = client.get(path).text
        assert "<img src=x" not in html and "<script>alert(2)" not in html, path


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
    client.post("/api/experiments", json=ONE_ARM)
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
        r = client.post("/api/experiments", json=ONE_ARM, headers=headers)
        assert r.status_code == 403, headers
    assert rows(engine) == (0, 0)
    same = client.post("/api/experiments", json=ONE_ARM, headers={"Origin": "http://testserver"})
    assert same.status_code == 201


def test_security_headers_on_every_answer(client):
    for path in ("/", "/api/experiments", "/static/js/main.js", "/api/experiments/999"):
        h = client.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]


def test_token_protects_every_request(settings):
    settings.token = "s3cret-token-for-tests"
    with TestClient(create_app(settings), follow_redirects=False) as c:
        assert c.get("/api/experiments").status_code == 401
        assert c.post("/api/experiments", json=ONE_ARM).status_code == 401
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
        assert "s3cret-token-for-tests" not in cookie  # an HMAC of the token, not the token
        assert c.cookies[TOKEN_COOKIE] == cookie_value("s3cret-token-for-tests")
        assert c.get("/api/experiments").status_code == 200  # the cookie now rides along


TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BAD_HOSTS = [
    "[::1]evil.com",
    "[::1]:8000evil.com",
    "localhost:evil",
    "localhost:",
    "localhost:0",
    "localhost:65536",
    "localhost:1\u00b2",  # a latin-1 digit that str.isdigit() accepts
    "127.0.0.1:80:80",
    "::1",  # an IPv6 Host must be in brackets
    "[127.0.0.1]",
    "[evil.com]",
    "[::1",
    "user@localhost",
    "local host",
    "localhost/x",
    "localhost\\evil.com",
    "-localhost",
    "",
]
GOOD_HOSTS = [
    "127.0.0.1:8000",
    "localhost",
    "LocalHost:8000",
    "[::1]:8000",
    "127.0.0.2",
    "testserver",
]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_header_is_a_real_host_and_port_token_or_not(settings, host):
    for token in (None, TOKEN):
        settings.token = token
        with TestClient(create_app(settings)) as c:
            r = c.get("/api/experiments", headers={"Host": host.encode("latin-1"), **BEARER})
            assert r.status_code == 400, (host, token, r.text)
            assert "Host" in r.json()["detail"]


def test_the_host_check_applies_in_token_mode(settings):
    settings.token = TOKEN
    settings.allowed_hosts = ["testserver", "reglab.example.org:443", "fe80::1"]
    settings.host = "box.lan"  # the bound name is the server's own too
    with TestClient(create_app(settings)) as c:
        for host in ("attacker.example", "127.0.0.1.attacker.example", "127.evil.com:8000"):
            r = c.get("/api/experiments", headers={"Host": host, **BEARER})
            assert r.status_code == 400 and "REGLAB_ALLOWED_HOSTS" in r.json()["detail"], host
        for host in (*GOOD_HOSTS, "reglab.example.org", "REGLAB.example.org.:8443", "[fe80::1]:80"):
            assert c.get("/api/experiments", headers={"Host": host, **BEARER}).status_code == 200
        assert (
            c.get("/api/experiments", headers={"Host": "box.lan:8000", **BEARER}).status_code == 200
        )
        # The Host is checked before the token: a rebinding page learns nothing about it.
        assert c.get("/api/experiments", headers={"Host": "attacker.example"}).status_code == 400


def test_origin_must_match_scheme_host_and_port(client, engine):
    refused = [
        ("testserver", "https://testserver"),
        ("testserver", "http://testserver:8080"),
        ("testserver", "http://testserver.evil.example"),
        ("testserver", "http://testserver@evil.example"),
        ("testserver", "http://testserver/"),
        ("testserver", "javascript://testserver"),
        ("127.0.0.1:8000", "http://127.0.0.1:9000"),
        ("127.0.0.1:8000", "http://localhost:8000"),  # another name is another origin
        ("127.0.0.1:8000", "http://127.0.0.1"),
        ("[::1]:8000", "http://[::1]:8001"),
    ]
    for host, origin in refused:
        r = client.post("/api/experiments", json=ONE_ARM, headers={"Host": host, "Origin": origin})
        assert r.status_code == 403 and "Origin" in r.json()["detail"], (host, origin)
    assert rows(engine) == (0, 0)
    accepted = [
        ("testserver", "http://testserver"),
        ("testserver", "http://testserver:80"),
        ("testserver:80", "http://TESTSERVER"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("[::1]:8000", "http://[0:0::1]:8000"),
    ]
    for host, origin in accepted:
        r = client.post("/api/experiments", json=ONE_ARM, headers={"Host": host, "Origin": origin})
        assert r.status_code == 201, (host, origin, r.text)


def test_wrong_tokens_are_slowed_per_client(settings):
    settings.token = TOKEN
    app = create_app(settings)
    wrong = {"Authorization": "Bearer guess"}
    with TestClient(app, client=("203.0.113.7", 40000), follow_redirects=False) as a:
        b = TestClient(app, client=("198.51.100.9", 40001), follow_redirects=False)
        for _ in range(MAX_TOKEN_FAILURES):
            assert a.get("/api/experiments", headers=wrong).status_code == 401
        slowed = a.get("/api/experiments", headers=wrong)
        assert slowed.status_code == 429 and slowed.headers["content-type"] == "application/json"
        wait = int(slowed.headers["retry-after"])
        assert 1 <= wait <= TOKEN_FAILURE_WINDOW_S
        assert f"try again in {wait} s" in slowed.json()["detail"]
        # Right or wrong, no token is compared while slowed: guessing learns nothing.
        assert a.get("/api/experiments", headers=BEARER).status_code == 429
        assert a.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 429
        # What needs no token still answers, and another client is not affected.
        assert a.get("/static/app.css").status_code == 200 and a.get("/login").status_code == 200
        assert b.get("/api/experiments", headers=BEARER).status_code == 200
        assert b.get("/api/experiments", headers=wrong).status_code == 401
        # The login form's wrong answers count as well.
        c = TestClient(app, client=("192.0.2.1", 40002), follow_redirects=False)
        for _ in range(MAX_TOKEN_FAILURES):
            assert c.post("/login", data={"token": "guess", "next": "/"}).status_code == 401
        assert c.post("/login", data={"token": "guess", "next": "/"}).status_code == 429


def test_the_failure_table_is_bounded_and_forgets():
    now = [1000.0]
    throttle = TokenThrottle(limit=3, window_s=60, max_clients=100, clock=lambda: now[0])
    for i in range(5000):
        throttle.fail(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100  # the least recently failed went first
    for _ in range(3):
        throttle.fail("attacker")
    assert throttle.retry_after("attacker") == 60 and throttle.retry_after("10.0.0.0") is None
    now[0] += 59.5
    assert throttle.retry_after("attacker") == 1
    now[0] += 1
    assert throttle.retry_after("attacker") is None
    throttle.fail("someone")  # failures older than the window are dropped as new ones come
    assert len(throttle) == 1


def test_the_login_cookie_is_an_hmac_and_a_raw_token_cookie_is_refused(settings):
    settings.token = TOKEN
    expected = hmac.new(TOKEN.encode(), b"reglab login cookie v1", hashlib.sha256).hexdigest()
    assert cookie_value(TOKEN) == expected and cookie_value(TOKEN + "x") != expected
    with TestClient(create_app(settings), follow_redirects=False) as c:
        for value in (TOKEN, cookie_value("an older token")):
            r = c.get("/api/experiments", headers={"Cookie": f"{TOKEN_COOKIE}={value}"})
            assert r.status_code == 401
            assert "Max-Age=0" in r.headers["set-cookie"]  # a stale cookie is dropped at once
            page = c.get("/", headers={"Cookie": f"{TOKEN_COOKIE}={value}"})
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        ok = c.get("/api/experiments", headers={"Cookie": f"{TOKEN_COOKIE}={expected}"})
        assert ok.status_code == 200
        # The bearer header still takes the token itself (scripts), not the cookie's value.
        assert (
            c.get("/api/experiments", headers={"Authorization": f"Bearer {expected}"}).status_code
            == 401
        )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.evil.com", False),
        ("127.0.0.1.nip.io", False),
        ("localhost.evil.com", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("10.1.2.3", False),
    ],
)
def test_bind_takes_loopback_only_by_parsing_the_address(settings, host, loopback):
    assert is_loopback(host) is loopback
    settings.host = host
    if loopback:
        check_bind(settings)
    else:
        with pytest.raises(click.UsageError, match="REGLAB_TOKEN"):
            check_bind(settings)
        settings.token = TOKEN
        check_bind(settings)
        settings.token = "  "  # an empty token protects nothing
        with pytest.raises(click.UsageError, match="REGLAB_TOKEN"):
            check_bind(settings)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "[::1]", "not a host", "127.0.0.1/8", "é.lan"])
def test_bind_refuses_what_is_no_address(settings, host):
    settings.host, settings.token = host, TOKEN
    with pytest.raises(click.UsageError, match="not an IP address or a host name"):
        check_bind(settings)


# ---- streams ----
