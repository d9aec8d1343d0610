"""Live streams against a real server process: streams held open by real clients, bursts, clients
that vanish, a server stopped with streams open, malformed resume ids, bounded replays."""

import asyncio
import json
import signal
import socket
import time

import httpx
import pytest

from bench.fill import fill_experiment
from store.engine import get_engine
from tests.factories import ONE_ARM
from tests.sse import read_events


class Held:
    """A stream opened and its first event read: it is counted by the server from then on. The
    reader is kept: dropping a half-read httpx iterator closes the connection."""

    def __init__(self, url: str):
        self.cm = httpx.stream("GET", url, timeout=30)
        r = self.cm.__enter__()
        assert r.status_code == 200, r.status_code
        self.events = read_events(r)
        next(self.events)

    def close(self) -> None:
        self.cm.__exit__(None, None, None)


def streams_open(url: str) -> int:
    return httpx.get(f"{url}/api/health", timeout=30).json()["streams"]


@pytest.fixture
def server(settings, processes):
    settings.max_streams = 20
    url = processes.server()
    exp = httpx.post(f"{url}/api/experiments", json=ONE_ARM).json()
    return url, f"{url}/api/experiments/{exp['id']}/events"


def test_a_full_house_of_streams_leaves_every_page_answering(server):
    url, events = server
    held = [Held(events) for _ in range(20)]  # the cap; more than the database pool
    try:
        assert streams_open(url) == 20
        # Each would wait for a pooled connection, or for the event loop, if streams held them.
        for path in ("/api/health", "/", "/static/app.css", "/api/experiments"):
            assert httpx.get(url + path, timeout=10).status_code == 200, path
    finally:
        for cm in held:
            cm.close()


def test_a_burst_of_twice_the_cap_gets_503_for_the_excess_and_never_more_than_the_cap(server):
    url, events = server

    async def burst():
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one():
                async with client.stream("GET", events) as r:
                    if r.status_code == 200:
                        await asyncio.sleep(1.0)  # held while the others arrive
                    return r.status_code, r.headers.get("retry-after")

            async def watch():
                seen = []
                for _ in range(10):
                    seen.append((await client.get(f"{url}/api/health")).json()["streams"])
                    await asyncio.sleep(0.05)
                return seen

            return await asyncio.gather(watch(), *(one() for _ in range(40)))

    seen, *answers = asyncio.run(burst())
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * 20 + [503] * 20
    assert all(retry == "5" for code, retry in answers if code == 503)
    assert max(seen) <= 20
    deadline = time.monotonic() + 10
    while streams_open(url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert streams_open(url) == 0


def test_clients_that_vanish_give_their_streams_back(server):
    url, events = server
    host, port = url.removeprefix("http://").split(":")
    path = events.removeprefix(url)
    for i in range(40):  # twice the cap: gone before, during and after the answer starts
        s = socket.create_connection((host, int(port)))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        if i % 2:
            s.recv(100)
        s.close()
    deadline = time.monotonic() + 15
    while streams_open(url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert streams_open(url) == 0
    held = [Held(events) for _ in range(20)]  # every slot came back
    for cm in held:
        cm.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_server_with_streams_open(server, processes, signum):
    url, events = server
    held = [Held(events) for _ in range(20)]
    proc = next(p for name, p in processes.procs if name == "server")
    try:
        proc.send_signal(signum)
        proc.wait(timeout=10)
    finally:
        for cm in held:
            cm.close()


@pytest.mark.parametrize(
    "last_event_id", ["١٢٣", "²", "9" * 5000, str(2**64), "12abc", "-5", "1 2", "0x10"]
)
def test_a_malformed_last_event_id_is_ignored(server, last_event_id):
    url, events = server
    with httpx.stream(
        "GET", events, timeout=30, headers={"Last-Event-ID": last_event_id.encode()}
    ) as r:
        assert r.status_code == 200
        kinds = []
        for ev in read_events(r):
            kinds.append(ev.event)
            if ev.event == "caught-up":
                break
    assert kinds[-2:] == ["experiment-status", "caught-up"]
    assert streams_open(url) >= 0  # and the server still answers


def test_a_replay_from_zero_over_http_sends_every_epoch_then_caught_up(settings, processes):
    engine = get_engine(settings.db_url)
    exp_id = fill_experiment(engine, arms=4, epochs=150, layers=2)  # over two replay pieces
    url = processes.server()
    seen = []
    with httpx.stream("GET", f"{url}/api/experiments/{exp_id}/events?after=0", timeout=30) as r:
        for ev in read_events(r):
            if ev.event == "epoch":
                seen.append(json.loads(ev.data)["metric"]["epoch"])
            elif ev.event == "caught-up":
                break
    assert sorted(seen) == sorted(list(range(1, 151)) * 4)
