"""Security over real HTTP against real `reglab serve` processes: the Host check, the token
throttle, the CLI's refusals, stream caps."""

import socket
import subprocess
import sys
import time

import httpx

from app.security import (
    MAX_TOKEN_FAILURES,
    TOKEN_FAILURE_WINDOW_S,
)
from tests.conftest import ROOT, free_port, settings_env
from tests.factories import ONE_ARM
from tests.servers import clean_env, serve
from tests.unit.app.test_security import BAD_HOSTS, BEARER, GOOD_HOSTS, TOKEN


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


def raw_get(url: str, host: str, path: str = "/api/experiments") -> tuple[int, bytes]:
    """One request over a real socket with exactly this Host line (httpx would normalise it)."""
    _, _, address = url.partition("://")
    name, _, port = address.partition(":")
    with socket.create_connection((name, int(port)), timeout=10) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_hosts_over_real_http(processes):
    url = processes.server()
    for host in BAD_HOSTS:
        status, body = raw_get(url, host)
        assert status == 400 and b"Host" in body, (host, status, body)
    for host in GOOD_HOSTS[:-1]:
        assert raw_get(url, host)[0] == 200, host
    assert raw_get(url, "attacker.example:8000")[0] == 400


def test_wrong_tokens_are_slowed_over_real_http(settings, tmp_path):
    settings.token = TOKEN
    port = free_port()
    env = clean_env({k: v for k, v in settings_env(settings).items() if k.startswith("REGLAB_")})
    with serve(["--port", str(port)], env, tmp_path, TOKEN) as url:
        statuses = [
            httpx.get(f"{url}/api/experiments", headers={"Authorization": f"Bearer guess{i}"})
            for i in range(MAX_TOKEN_FAILURES + 1)
        ]
        assert [r.status_code for r in statuses] == [401] * MAX_TOKEN_FAILURES + [429]
        assert 1 <= int(statuses[-1].headers["retry-after"]) <= TOKEN_FAILURE_WINDOW_S
        assert httpx.get(f"{url}/api/experiments", headers=BEARER).status_code == 429
        assert httpx.get(f"{url}/static/app.css").status_code == 200


def test_the_cli_refuses_a_prefix_loopback_and_an_empty_token(settings):
    env = settings_env(settings)
    for host, extra in (("127.evil.com", {}), ("0.0.0.0", {"REGLAB_TOKEN": ""})):
        p = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--host", host],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode != 0 and "REGLAB_TOKEN" in p.stderr, (host, p.stderr)


def test_streams_end_with_their_clients_and_are_capped(settings, processes):
    settings.max_streams = 5
    url = processes.server()
    exp = httpx.post(f"{url}/api/experiments", json=ONE_ARM).json()
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
