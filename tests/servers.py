"""A real `reglab serve` process with exactly the environment a test gives it (a token, a public
bind address), which the `processes` fixture cannot start: it waits for an unauthenticated 200."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any REGLAB_ variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}
    env.update(extra, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return env


@contextmanager
def serve(args: list[str], env: dict[str, str], cwd: Path, token: str) -> Iterator[str]:
    """`python -m app.cli serve <args>` run from `cwd` (so no .env of the checkout is read);
    yields its loopback URL once it answers the token, stops it after."""
    port = args[args.index("--port") + 1]
    log = open(cwd / f"server-{port}.log", "wb")  # noqa: SIM115 (closed below)
    p = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", *args],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"{url}/api/health", headers={"Authorization": f"Bearer {token}"}, timeout=1
                )
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the server did not start:\n" + (cwd / f"server-{port}.log").read_text()
                )
            time.sleep(0.1)
        yield url
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
