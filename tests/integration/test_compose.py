"""The shipped container setup starts: docker-compose.yml's web service, rendered as compose would
(the token from the environment or .env), passes the server's own start-up checks and answers a
browser on the published 127.0.0.1:8000; without a token it is refused, by compose and by reglab."""

import os
import re
import subprocess
import sys

import click
import httpx
import pytest
import yaml

from app.cli import check_bind, serve
from store.settings import Settings
from tests.conftest import ROOT, free_port
from tests.servers import clean_env
from tests.servers import serve as run_server

TOKEN = "compose-test-token-0123456789abcdef"
# Compose's interpolation (compose-go template): $$, $NAME, ${NAME}, ${NAME:-default},
# ${NAME-default}, ${NAME:?error}, ${NAME?error}. The files use no nesting.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        name, op, arg = m["named"] or m["braced"], m["op"], m["arg"]
        value = env.get(name)
        if op is None:
            return value or ""
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if missing else value
        if missing:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        return value

    return _VAR.sub(one, text)


def render(files: list[str], service: str, env: dict[str, str]) -> tuple[list[str], dict]:
    """The service's command and environment after merging the files (later ones override,
    environment maps are merged key by key) and interpolating `env`, as `docker compose config`
    shows them."""
    command, environment = None, {}
    for name in files:
        spec = yaml.safe_load((ROOT / name).read_text())["services"].get(service, {})
        command = spec.get("command", command)
        environment.update(spec.get("environment", {}))
    rendered = {k: interpolate(str(v), env) for k, v in environment.items()}
    return [interpolate(a, env) for a in command], rendered


def settings_from(environment: dict[str, str], monkeypatch) -> Settings:
    """The Settings `reglab` builds inside the container: from that environment alone (the image
    has no .env file)."""
    for key in [k for k in os.environ if k.startswith("REGLAB_")]:
        monkeypatch.delenv(key)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def start_up_check(command: list[str], environment: dict[str, str], monkeypatch) -> Settings:
    """What `reglab serve` checks before it binds: its options parsed by its own click command,
    its settings from the environment, then check_bind."""
    assert command[:2] == ["reglab", "serve"], command
    params = serve.make_context("serve", command[2:]).params
    settings = settings_from(environment, monkeypatch)
    settings = settings.model_copy(update={"host": params["host"], "port": params["port"]})
    check_bind(settings)
    return settings


FILE_SETS = [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.postgres.yml"]]


@pytest.mark.parametrize("files", FILE_SETS)
def test_compose_refuses_to_start_without_a_token(files):
    for env in ({}, {"REGLAB_TOKEN": ""}):
        with pytest.raises(MissingVariable) as refused:
            render(files, "web", env)
        message = str(refused.value)
        assert "REGLAB_TOKEN" in message and ".env" in message and "export" in message


@pytest.mark.parametrize("files", FILE_SETS)
def test_compose_web_service_passes_the_servers_start_up_checks(files, monkeypatch):
    command, environment = render(files, "web", {"REGLAB_TOKEN": TOKEN})
    assert environment["REGLAB_TOKEN"] == TOKEN and environment["REGLAB_ALLOWED_HOSTS"] == "[]"
    settings = start_up_check(command, environment, monkeypatch)
    assert settings.host == "0.0.0.0" and settings.port == 8000
    assert settings.token.get_secret_value() == TOKEN and settings.allowed_hosts == []
    # The same command without the token (e.g. the compose file edited, or `docker run`): refused.
    bare = {k: v for k, v in environment.items() if k != "REGLAB_TOKEN"}
    with pytest.raises(click.UsageError, match="REGLAB_TOKEN"):
        start_up_check(command, bare, monkeypatch)
    # A name of its own beside loopback, from .env, arrives as a list.
    _, named = render(files, "web", {"REGLAB_TOKEN": TOKEN, "REGLAB_ALLOWED_HOSTS": '["box.lan"]'})
    assert start_up_check(command, named, monkeypatch).allowed_hosts == ["box.lan"]


def test_compose_web_service_answers_the_browser_on_its_published_port(tmp_path, mnist_root):
    """The rendered command and environment in a real process: it binds 0.0.0.0 (as in its
    container) and answers what a browser sends through the published 127.0.0.1:8000."""
    command, environment = render(["docker-compose.yml"], "web", {"REGLAB_TOKEN": TOKEN})
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert web["ports"] == ["127.0.0.1:8000:8000"]  # published on the host's loopback only
    port = str(free_port())  # the container's 8000 may be taken on this machine
    args = command[2:]
    args[args.index("--port") + 1] = port
    # /data is the container's volume; here a temporary home stands in for it.
    env = clean_env(
        {**environment, "REGLAB_HOME": str(tmp_path / "data"), "REGLAB_DATA_DIR": str(mnist_root)}
    )
    env["REGLAB_DOWNLOAD"] = "false"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with run_server(args, env, tmp_path, TOKEN) as url:
        for host in ("127.0.0.1:8000", "localhost:8000"):
            r = httpx.get(f"{url}/api/health", headers={"Host": host, **bearer})
            assert r.status_code == 200, (host, r.text)
        browser = {"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"}
        created = httpx.post(
            f"{url}/api/experiments",
            json={"epochs": 1, "train_per_class": 5, "runs": [{"name": "a"}]},
            headers={**browser, **bearer},
        )
        assert created.status_code == 201, created.text
        # The token is still required, and the Host check still holds with it.
        assert httpx.get(f"{url}/api/experiments", headers=browser).status_code == 401
        foreign = httpx.get(f"{url}/api/health", headers={"Host": "evil.example:8000", **bearer})
        assert foreign.status_code == 400 and "REGLAB_ALLOWED_HOSTS" in foreign.json()["detail"]
        # The login form, as the browser uses it: a cookie that opens the pages.
        login = httpx.post(f"{url}/login", data={"token": TOKEN, "next": "/"}, headers=browser)
        assert login.status_code == 303
        cookie = login.cookies["reglab_token"]
        assert TOKEN not in cookie
        page = httpx.get(
            f"{url}/", headers={"Host": "127.0.0.1:8000"}, cookies={"reglab_token": cookie}
        )
        assert page.status_code == 200 and "reglab" in page.text

    # Without the token the same command does not start at all.
    bare = {k: v for k, v in env.items() if k != "REGLAB_TOKEN"}
    p = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", *args],
        env=bare,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0 and "REGLAB_TOKEN" in p.stderr, p.stderr
