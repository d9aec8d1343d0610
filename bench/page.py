"""(7) The experiment page of the largest experiment: 16 arms x 200 epochs x 8 weight matrices,
stored without training (bench/fill.py). A real server process and Debian's Chromium through
Playwright: the first answer's size, the time from navigation to the first chart drawn, the curves'
size; then four replays from the start at once and the server's memory.
Targets: first answer <= 2 MB, first chart <= 1.5 s. Run: python -m bench.page [--rounds N]
"""

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import header, start_server, summary
from bench.fill import fill_experiment
from store.engine import get_engine
from tests.conftest import free_port


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def replays(url: str, n: int) -> int:
    async with httpx.AsyncClient(timeout=300) as client:

        async def one() -> int:
            epochs = 0
            async with client.stream("GET", url) as r:
                async for line in r.aiter_lines():
                    if line == "event: epoch":
                        epochs += 1
                    elif line == "event: caught-up":
                        return epochs
            return epochs

        return sum(await asyncio.gather(*(one() for _ in range(n))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--arms", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--layers", type=int, default=8)
    args = ap.parse_args()
    header(f"experiment page of {args.arms} arms x {args.epochs} epochs x {args.layers} layers")
    home = Path(tempfile.mkdtemp(prefix="reglab-page-"))
    env = {**os.environ, "REGLAB_HOME": str(home), "REGLAB_DOWNLOAD": "false"}
    t0 = time.perf_counter()
    exp_id = fill_experiment(
        get_engine(f"sqlite:///{home / 'reglab.db'}"), args.arms, args.epochs, args.layers
    )
    print(f"   stored in {time.perf_counter() - t0:.1f} s")
    server, url = start_server(env, free_port())
    try:
        page_bytes = len(httpx.get(f"{url}/experiments/{exp_id}").content)
        curves = httpx.get(f"{url}/api/experiments/{exp_id}/curves")
        hists = httpx.get(f"{url}/api/experiments/{exp_id}/histograms")
        print(
            f"   first answer {page_bytes / 1e6:.3f} MB (target <= 2 MB); then curves "
            f"{len(curves.content) / 1e6:.2f} MB in {curves.elapsed.total_seconds():.2f} s, "
            f"histograms {len(hists.content) / 1e6:.2f} MB"
        )
        from playwright.sync_api import sync_playwright

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        firsts, alls = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            for _ in range(args.rounds):
                context = browser.new_context(viewport={"width": 1300, "height": 900})
                page = context.new_page()
                page.goto(f"{url}/experiments/{exp_id}", wait_until="commit")
                page.wait_for_function(
                    "() => { const el = document.getElementById('chart-loss');"
                    " return el && el.data && el.data.length > 0; }",
                    timeout=60_000,
                    polling="raf",
                )
                firsts.append(page.evaluate("() => performance.now()") / 1000)
                page.wait_for_function(
                    "() => document.querySelectorAll('#histograms .chart').length > 0",
                    timeout=60_000,
                )
                alls.append(page.evaluate("() => performance.now()") / 1000)
                context.close()
            browser.close()
        print(
            f"   first chart (s): {summary(firsts, 2)}; target <= 1.5 s; histograms drawn by "
            f"{statistics.median(alls):.2f} s"
        )
        before = rss_kib(server.pid, "VmRSS")
        t0 = time.perf_counter()
        sent = asyncio.run(replays(f"{url}/api/experiments/{exp_id}/events?after=0", 4))
        took = time.perf_counter() - t0
        peak = rss_kib(server.pid, "VmHWM")
        print(
            f"   four replays from the start at once: {sent} epoch events in {took:.1f} s; "
            f"server memory {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
