"""The page in a real browser: Playwright driving Debian's Chromium against real processes."""

import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from store import bins
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("REGLAB_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The content security policy must not have to block anything the page itself does, and
    # every script module must load (a missing one is only a console error, not a page error).
    page.on("console", lambda m: errors.append(m.text) if script_trouble(m) else None)
    yield page
    context.close()
    assert errors == [], f"JavaScript, module or CSP errors on the page: {errors}"


def script_trouble(message) -> bool:
    if "Content Security Policy" in message.text:
        return True
    if message.type != "error":
        return False
    # Not htmx's own logs (a request that fails as the test's server stops), which come from
    # the vendored script too: a file under /static/ that failed to load, or a module's error.
    url = message.location.get("url", "")
    failed = message.text.startswith("Failed to load") and "/static/" in url
    return failed or "module" in message.text.lower()


def chart_points(page, chart_id: str) -> int:
    return page.evaluate(
        """(id) => { const el = document.getElementById(id);
                     return el && el.data ? el.data.reduce((n, t) => n + t.x.length, 0) : 0; }""",
        chart_id,
    )


def test_form_launch_live_charts_and_download(page, processes):
    url = processes.server()
    processes.worker()
    page.goto(url)
    form = page.locator("#experiment-form")
    assert form.locator('input[name="hidden"]').input_value() == "500"

    # Bad input: the message appears next to the field, and nothing is started.
    form.locator('input[name="epochs"]').fill("0")
    page.click("#run-button")
    page.wait_for_selector("#error-epochs")
    assert page.inner_text("#error-epochs") == "Must be 1 or more"
    assert page.evaluate("document.activeElement.name") == "epochs"  # focus on the first error
    assert page.url.rstrip("/") == url

    # A smaller experiment than the tutorial's, so the test is quick; arms edited in the form.
    form = page.locator("#experiment-form")
    form.locator('input[name="epochs"]').fill("6")
    form.locator('input[name="train_per_class"]').fill("60")
    form.locator('input[name="val_per_class"]').fill("50")
    form.locator("tbody.arm").nth(2).locator('[data-action="remove-arm"]').click()
    page.click('[data-action="add-arm"]')
    new_arm = form.locator("tbody.arm").nth(2)
    new_arm.locator('input[name="runs.2.name"]').fill("Strong ridge")
    new_arm.locator('input[name="runs.2.l2"]').fill("0.01")
    page.click("#run-button")
    page.wait_for_url("**/experiments/*")
    page.evaluate("window.__sameDocument = true")

    # The charts gain points while the arms train, without a reload.
    seen = []
    for _ in range(600):
        n = chart_points(page, "chart-loss")
        if not seen or n != seen[-1]:
            seen.append(n)
        if n == 3 * 6 * 2:  # 3 arms x 6 epochs x (train, val)
            break
        page.wait_for_timeout(50)
    assert seen[-1] == 36, seen
    assert len(seen) >= 4 and seen == sorted(seen), seen  # grew in several steps
    assert page.evaluate("window.__sameDocument") is True

    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=60_000)
    names = page.locator(".card strong").all_inner_texts()
    assert names == ["Original", "Lasso", "Strong ridge"]
    assert page.locator(".card .progress-text").first.inner_text().startswith("epoch 6/6")
    # One step outline per arm over the shared bins (each closed to 0 at both ends), no bars:
    # on the arms' common fine grid, at least 40 bins across the fitted x-range.
    hist = page.evaluate(
        """() => document.getElementById('hist-linear_1_weight').data
                 .filter(t => t.mode === 'lines').map(t => [t.type, t.x.length, t.line.shape])"""
    )
    assert len(hist) == 3 and len(set(map(tuple, hist))) == 1, hist
    assert hist[0][0] == "scatter" and hist[0][2] == "hv", hist
    assert hist[0][1] >= bins.FINE_MIN_BINS + 3, hist
    inside = page.evaluate(
        """() => { const el = document.getElementById('hist-linear_1_weight');
                   const [lo, hi] = el._fullLayout.xaxis.range, x = el.data[0].x.slice(1, -1);
                   return x.filter(e => e >= lo && e <= hi).length - 1; }"""
    )
    assert inside >= bins.FINE_MIN_BINS, inside
    for chart in ("chart-acc", "chart-gap", "chart-extra", "chart-weights", "chart-sparsity"):
        assert chart_points(page, chart) >= 3 * 6, chart  # every arm's every epoch, at least
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "experiment.png"), full_page=True)

    check_epoch_scrubber(page)
    check_fine_bins_mirror(page)
    check_distributions(page)

    with page.expect_download() as info:
        page.locator("#run-3 a.download").click()
    path = info.value.path()
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["config"]["arm"] == "Strong ridge" and ckpt["config"]["l2"] == 0.01
    assert info.value.suggested_filename.endswith(".pt")


def check_fine_bins_mirror(page):
    """histograms.js re-bins the fine grids as store/bins.py does: to the 80 counts, and all arms
    onto the coarsest arm's resolution, the same numbers."""
    got = page.evaluate(
        """async () => { const {fineSparse, commonBins} = await import('/static/js/histograms.js');
            const {Live} = await import('/static/js/live.js');
            const r = await fetch(`/api/experiments/${Live.experimentId}/histograms?epoch=1`);
            const hs = (await r.json()).runs.map(a => a.layers['linear_1.weight']);
            const to80 = hs.map(h => { const c = new Array(80).fill(0);
              for (const [k, n] of fineSparse(h.level, h.fine, h.level)) c[k + 40] += n;
              return c; });
            const [edges, counts] = commonBins(hs, true)[0];
            return {hs, to80, edges: [edges[0], edges[edges.length - 1]],
                    common: commonBins(hs, true).map(([, c]) => c)}; }"""
    )
    hs = got["hs"]
    assert got["to80"] == [h["counts"] for h in hs]
    res = max(h["level"] - h["fine"]["f"] for h in hs)
    sparse = [bins.fine_sparse(h["level"], h["fine"], res) for h in hs]
    lo, hi = min(min(s) for s in sparse), max(max(s) for s in sparse)
    assert got["common"] == [[s.get(k, 0) for k in range(lo, hi + 1)] for s in sparse]
    width = bins.width(hs[0]["base"], res)
    assert got["edges"] == pytest.approx([lo * width, (hi + 1) * width])


def check_distributions(page):
    """One small chart per arm: percentile bands of the chosen layer against the epoch, with a
    marker at the epoch the scrubber shows."""
    page.wait_for_function(  # fetched again while arms train: at the end, all 6 epochs
        """() => { const els = [...document.querySelectorAll('#distributions .chart')];
                   return els.length === 3 && els.every(el => el.data?.[6]?.x.length === 6); }""",
        timeout=20_000,
    )
    view = page.evaluate(
        """() => [...document.querySelectorAll('#distributions .chart')].map(el =>
             ({n: el.data.length, x: el.data[6].x, fills: el.data.filter(t => t.fill).length,
               marker: el.layout.shapes[0].x0}))"""
    )
    assert all(v["n"] == 7 and v["fills"] == 3 and v["x"] == [1, 2, 3, 4, 5, 6] for v in view)
    assert all(v["marker"] == 6 for v in view), view
    page.locator("#epoch-slider").focus()
    page.keyboard.press("Home")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#distributions .chart')]"
        ".every(el => el.layout.shapes[0].x0 === 1)"
    )
    page.select_option("#dist-layer", "linear_2.weight")
    page.wait_for_function(
        "() => document.querySelector('#distributions .chart').layout.title.text"
        ".includes('linear_2')"
    )
    page.locator("#distributions").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "distributions.png"), full_page=True)
    page.check("#epoch-follow")


def hist_view(page, chart_id: str = "hist-linear_1_weight") -> dict:
    return page.evaluate(
        """(id) => { const el = document.getElementById(id), full = el._fullLayout;
                     return {title: el.layout.title.text,
                             names: el.data.filter(t => t.showlegend !== false).map(t => t.name),
                             types: el.data.map(t => t.type),
                             ytype: full.yaxis.type, xrange: full.xaxis.range}; }""",
        chart_id,
    )


def hist_at(page, epoch: int) -> None:
    page.wait_for_function(
        "(e) => document.getElementById('hist-linear_1_weight')?.layout?.title.text"
        ".includes('at epoch ' + e)",
        arg=epoch,
    )


def check_epoch_scrubber(page):
    """The epoch scrubber drives the histograms: scrub to epoch 1 (all arms there, the epoch in
    the URL), back to the latest by "follow latest", log counts, step lines only."""
    slider = page.locator("#epoch-slider")
    assert page.get_attribute("#epoch-slider", "max") == "6" and slider.input_value() == "6"
    assert page.locator("#epoch-follow").is_checked()
    assert "at epoch 6" in hist_view(page)["title"]
    slider.focus()
    page.keyboard.press("Home")  # keyboard: a native range input
    hist_at(page, 1)
    view = hist_view(page)
    assert len(view["names"]) == 3 and all(n.endswith("· epoch 1") for n in view["names"]), view
    assert "epoch=1" in page.url and not page.locator("#epoch-follow").is_checked()
    assert set(view["types"]) == {"scatter"}, view  # outlines, no bar traces
    lo, hi = view["xrange"]
    assert hi - lo < 2 * 1.5, view  # fitted to where the weights are, not the bins' full span
    # Play steps on from the epoch shown; Pause stops it.
    page.click("#epoch-play")
    hist_at(page, 2)
    page.click("#epoch-play")
    assert page.inner_text("#epoch-play") == "Play" and "epoch=" in page.url
    # The epoch in the URL is read back on load, follow-latest off.
    page.goto(re.sub(r"epoch=\d+", "epoch=1", page.url))
    hist_at(page, 1)
    assert slider.input_value() == "1" and not page.locator("#epoch-follow").is_checked()
    # Exact zeros get a marker at 0 with their count (faked here: these arms have none).
    zeros = page.evaluate(
        """async () => { const {Live} = await import('/static/js/live.js');
                   const {drawHistograms} = await import('/static/js/histograms.js');
                   for (const run of Live.runs.values())
                     run.metrics[0].layers['linear_1.weight'].zero_frac = 0.25;
                   drawHistograms(Live);
                   return document.getElementById('hist-linear_1_weight').data
                     .filter(t => t.mode === 'markers').map(t => [t.x[0], t.hovertemplate]); }"""
    )
    assert len(zeros) == 3 and all(x == 0 and "exactly 0 (25.0 %)" in h for x, h in zeros), zeros
    page.check("#hist-log")
    page.wait_for_function(
        "() => document.getElementById('hist-linear_1_weight')._fullLayout.yaxis.type === 'log'"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#hist-tools").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "histograms.png"), full_page=True)
    page.check("#epoch-follow")
    hist_at(page, 6)
    assert slider.input_value() == "6" and "epoch=" not in page.url
    assert all(n.endswith("· epoch 6") for n in hist_view(page)["names"])
    page.uncheck("#hist-log")


def test_presets_load_in_one_click_and_arms_keep_their_numbering(page, client_url):
    page.goto(client_url)
    page.click('button[data-preset="proximal"]')
    page.wait_for_selector('input[name="runs.2.prox_l1"][value="0.1"]')
    names = [page.input_value(f'input[name="runs.{i}.name"]') for i in range(3)]
    assert names == ["Original", "L1 in the loss", "Proximal L1"]
    # Remove the middle arm: the rows are renumbered, so the server's errors land on the right row.
    page.locator("tbody.arm").nth(1).locator('[data-action="remove-arm"]').click()
    assert page.input_value('input[name="runs.1.name"]') == "Proximal L1"
    page.locator("tbody.arm").nth(1).locator('[data-action="toggle-more"]').click()
    page.fill('input[name="runs.1.l1_layers"]', "0.1")  # one value for two weight matrices
    page.click("#run-button")
    page.wait_for_selector("#error-runs-1-l1_layers")  # visible: its folded row opened
    assert "Give 2 values" in page.inner_text("#error-runs-1-l1_layers")
    page.fill('input[name="runs.1.l1_layers"]', "")
    page.fill('input[name="runs.1.prox_l1"]', "-3")
    page.click("#run-button")
    page.wait_for_selector("#error-runs-1-prox_l1")
    assert page.inner_text("#error-runs-1-prox_l1") == "Must be 0 or more"
    assert page.url.rstrip("/") == client_url  # nothing was started
    page.click('button[data-preset="dropout_bn"]')
    page.wait_for_selector('input[name="runs.3.name"][value="Both"]')
    assert page.is_checked('input[name="runs.2.batchnorm"]')


@pytest.fixture
def client_url(processes):
    return processes.server()


def test_sweep_page_draws_the_path_as_arms_finish_epochs(page, processes):
    import httpx

    url = processes.server()
    # A dropout sweep trains its arms one by one (each arm's own dropout masks), so the path
    # gains a point each time another arm reports its first epoch.
    body = {
        "train_per_class": 60,
        "val_per_class": 50,
        "epochs": 4,
        "hidden": 200,
        "sweep": {"param": "dropout", "from": 0, "to": 0.6, "points": 4},
    }
    exp = httpx.post(f"{url}/api/experiments", json=body).json()
    page.goto(f"{url}/experiments/{exp['id']}")
    page.evaluate("window.__sameDocument = true")
    processes.worker()
    seen = []
    for _ in range(1200):
        n = page.evaluate("document.getElementById('path-acc').data?.[0]?.x.length ?? 0")
        if not seen or n != seen[-1]:
            seen.append(n)
        if n == 4:
            break
        page.wait_for_timeout(50)
    assert seen[-1] == 4 and len(seen) >= 3 and seen == sorted(seen), seen
    assert page.evaluate("window.__sameDocument") is True
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    page.wait_for_selector("#best-download:not([hidden])")
    assert "Best so far" in page.inner_text("#best-arm")
    for chart in ("path-loss", "path-gap", "path-weights", "path-sparsity"):
        assert page.evaluate(f"document.getElementById('{chart}').data[0].x.length") == 4, chart
    # Pick an arm: the curves below show it next to the zero arm.
    page.select_option("#sweep-arm", label="dropout=0.4")
    names = page.evaluate("document.getElementById('chart-loss').data.map(t => t.name)")
    assert {n.rsplit(" ", 1)[0] for n in names} == {"dropout=0", "dropout=0.4"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sweep.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#best-download")
    assert info.value.suggested_filename.endswith(".pt")


def test_pages_load_their_modules_with_a_clean_console(browser, processes):
    """The home, experiment and compare pages: every script module loads and runs, and the
    console shows no error at all (of any kind, not only the scripts')."""
    import httpx

    url = processes.server()
    r = httpx.post(f"{url}/api/experiments", json={"epochs": 1, "hidden": 16})
    assert r.status_code == 201, r.text
    exp = r.json()
    runs = ",".join(str(run["id"]) for run in exp["runs"][:2])
    tab = browser.new_page()
    errors, loaded = [], []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("response", lambda r: loaded.append(r.url) if "/static/js/" in r.url else None)
    tab.goto(url)
    tab.click('[data-action="add-arm"]')  # static/js/form.js is wired
    tab.wait_for_selector('input[name="runs.3.name"]')
    for path in (f"/experiments/{exp['id']}", f"/compare?runs={runs}"):
        tab.goto(url + path)  # static/js/live.js and charts.js draw, even before any epoch
        tab.wait_for_function("() => Array.isArray(document.getElementById('chart-loss').data)")
        tab.wait_for_selector("#hist-tools", state="attached")
    tab.close()
    modules = sorted(p.name for p in (ROOT / "static" / "js").glob("*.js"))
    assert sorted({u.rsplit("/", 1)[1] for u in loaded}) == modules
    assert errors == [], errors


def test_api_docs_work_offline_under_the_csp(page, client_url):
    page.goto(client_url + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 8  # every operation listed


def test_cancel_from_the_page(page, processes):
    import httpx

    url = processes.server()
    exp = httpx.post(
        f"{url}/api/experiments", json={"epochs": 50, "runs": [{"name": "a"}, {"name": "b"}]}
    ).json()
    processes.worker()
    page.goto(f"{url}/experiments/{exp['id']}")
    page.wait_for_selector('#run-1 [data-status="running"]', timeout=30_000)
    # The cancel reaches the server at once, but its answer (rendered while the arms still ran)
    # is held back until the live stream has shown them stopped: it must not bring back the
    # button or the "running" badge, as it once did when a worker stopped first.
    held = []

    def hold(route):
        held.append((route, route.fetch()))

    page.route("**/experiments/*/cancel", hold)
    page.click("#cancel-button")
    page.wait_for_selector('#run-2 [data-status="cancelled"]', timeout=10_000)
    page.wait_for_selector('#run-1 [data-status="cancelled"]', timeout=10_000)
    # The status fragment comes in its own event, just after the cards: wait for it, then check.
    page.wait_for_selector("#cancel-button", state="detached", timeout=5_000)
    for _ in range(50):  # the answer is filled in by the handler, during Playwright's waits
        if held:
            break
        page.wait_for_timeout(100)
    route, answer = held[0]
    assert "cancel-button" in answer.text()  # the stale answer, which still offers the button
    route.fulfill(response=answer)
    page.wait_for_timeout(500)
    assert page.locator("#cancel-button").count() == 0
    assert page.locator("#experiment-status .badge").inner_text() == "cancelled"


def test_the_page_lists_live_workers_and_warns_when_arms_wait_for_none(page, processes):
    import httpx

    url = processes.server()
    body = {"train_per_class": 60, "val_per_class": 50, "epochs": 40, "hidden": 200}
    exp = httpx.post(f"{url}/api/experiments", json={**body, "runs": [{"name": "waiting"}]}).json()
    # No worker: both pages say that the arm waits for nobody, and how to start one.
    for path in ("/", f"/experiments/{exp['id']}"):
        page.goto(url + path)
        page.wait_for_selector("#workers-warning")
        assert page.inner_text("#workers-warning") == (
            "1 arm waits and no worker is running: start one with reglab worker."
        )
        assert page.locator("table.workers").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "workers-none.png"), full_page=True)

    worker = processes.worker()
    row = page.locator(f'table.workers tr[data-worker*="-{worker.pid}-"]')
    row.wait_for(timeout=60_000)  # the panel polls: no reload
    page.wait_for_selector("#workers-warning", state="detached")
    host, device, training, beat = row.locator("td").all_inner_texts()
    assert host.endswith(f"pid {worker.pid}") and device == "cpu"
    page.wait_for_function(
        """(pid) => document.querySelector(`tr[data-worker*="-${pid}-"] td:nth-child(3)`)
                     ?.innerText.includes("waiting, epoch")""",
        arg=worker.pid,
        timeout=60_000,
    )
    training = row.locator("td").nth(2).inner_text()
    assert training.startswith(f"{exp['name']}: waiting, epoch ") and training.endswith("/40")
    assert beat == "just now" or beat.endswith(" s ago")
    page.screenshot(path=str(ARTIFACTS / "workers.png"), full_page=True)

    worker.kill()  # gone from the list at once: its process is gone (no 30 s stall timeout)
    row.wait_for(state="detached", timeout=10_000)
    page.wait_for_selector("#workers-warning", timeout=10_000)  # its arm waits again
    card = page.locator("#run-" + str(exp["runs"][0]["id"]))
    assert "queued" in card.locator(".badge").inner_text()


def test_a_resumed_arm_keeps_its_superseded_points_faded_until_retrained(page, processes, settings):
    import httpx

    # No resume state within the test: the kill costs every epoch so far, trained again.
    settings.resume_every = 1000.0
    url = processes.server()
    body = {"train_per_class": 150, "val_per_class": 50, "epochs": 30, "hidden": 300}
    exp = httpx.post(f"{url}/api/experiments", json={**body, "runs": [{"name": "a"}]}).json()
    run_id = exp["runs"][0]["id"]
    page.goto(f"{url}/experiments/{exp['id']}")
    first = processes.worker()
    page.wait_for_function(
        "() => document.getElementById('chart-loss').data?.[0]?.x.length >= 6", timeout=60_000
    )
    first.kill()
    processes.worker()

    def faded() -> dict:  # the faded traces of the loss chart, and the live ones' last epochs
        return page.evaluate(
            """() => { const data = document.getElementById('chart-loss').data || [];
                       const old = data.filter(t => t.opacity < 1);
                       return {old: old.map(t => t.x), live: data.filter(t => !(t.opacity < 1))
                                                           .map(t => t.x[t.x.length - 1])}; }"""
        )

    seen = None
    for _ in range(1200):  # until the retrained epochs arrive, the old ones stay, faded
        now = faded()
        if now["old"] and now["live"] and now["live"][0] is not None:
            seen = now
            break
        page.wait_for_timeout(50)
    assert seen is not None, "no faded points while the arm was retrained"
    last_live = seen["live"][0]
    for xs in seen["old"]:  # train and validation, only the epochs not yet retrained
        assert xs and min(xs) > last_live and xs == sorted(xs)
    card = page.locator(f"#run-{run_id} .run-resumed")
    assert card.inner_text().startswith("started over when its worker stopped; epochs 1-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "resumed.png"), full_page=True)
    # Once the retrained epochs have caught up, nothing faded is left.
    page.wait_for_function(
        """() => { const d = document.getElementById('chart-loss').data || [];
                   return d.length && d.every(t => !(t.opacity < 1)); }""",
        timeout=60_000,
    )
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    assert card.inner_text().endswith(" retrained")
    assert chart_points(page, "chart-loss") == 2 * 30  # every epoch once, train and validation


def tick_labels(page, chart_id: str, axis: str) -> list[str]:
    return page.locator(f"#{chart_id} .{axis}tick text").all_text_contents()


def test_verdict_table_and_axes_without_si_prefixes(page, processes):
    import httpx

    url = processes.server()
    body = {
        "train_per_class": 60,
        "val_per_class": 50,
        "epochs": 3,
        "hidden": 200,
        "sweep": {"param": "l2", "from": 1e-5, "to": 1e-3, "points": 3},
    }
    exp = httpx.post(f"{url}/api/experiments", json=body).json()
    page.goto(f"{url}/experiments/{exp['id']}")
    processes.worker()
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    # The table is refreshed live: its last fetch follows the last epoch within a second.
    page.wait_for_function(
        """() => [...document.querySelectorAll('#verdict-rows tr')]
                 .filter(tr => tr.children[1]?.innerText === '3').length === 4""",
        timeout=10_000,
    )
    rows = page.locator("#verdict-rows tr")
    names = [rows.nth(i).locator("td").first.inner_text().strip() for i in range(4)]
    assert names == ["l2=0", "l2=1e-05", "l2=0.0001", "l2=0.001"]
    assert page.locator("#verdict-rows tr.reference").inner_text().strip().startswith("l2=0\t")
    assert page.inner_text("#verdict-ref") == "(l2=0)"  # the sweep's zero arm
    summary = httpx.get(f"{url}/api/experiments/{exp['id']}/summary").json()
    for i, arm in enumerate(summary["arms"]):
        acc = rows.nth(i).locator('td[data-col="final_val_acc"]').inner_text()
        assert f"{100 * arm['final_val_acc']:.1f} %" in acc, acc
        if i:  # differences from the zero arm, in points
            assert acc.split("\n")[-1].endswith(" pts"), acc
    assert page.locator("#verdict td.best").count() >= 5  # one mark per measured column
    # Fractions as percentages; no SI prefix ("600m", "10µ", "500n") on any axis.
    page.wait_for_function("() => document.querySelectorAll('#path-acc .xtick text').length > 1")
    acc_ticks = tick_labels(page, "chart-acc", "y")
    assert acc_ticks and all(t.endswith("%") for t in acc_ticks), acc_ticks
    lambdas = tick_labels(page, "path-acc", "x")
    for chart, axis in [("chart-acc", "y"), ("path-acc", "x"), ("path-weights", "y"),
                        ("chart-weights", "y"), ("path-sparsity", "y")]:  # fmt: skip
        for t in tick_labels(page, chart, axis):
            assert not re.search(r"\d[munµkMG]$", t), (chart, t)
    assert any(re.fullmatch(r"1e[−-]5", t) for t in lambdas), lambdas
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "verdict.png"), full_page=True)


def weights_at(page, epoch: int) -> list[str]:
    """Wait until every arm's weight images show `epoch`; their epochs."""
    page.wait_for_function(
        """(e) => { const figs = [...document.querySelectorAll('#weights .weights-arm')];
                    return figs.length === 3
                           && figs.every(f => f.dataset.epoch === String(e)); }""",
        arg=epoch,
    )
    return page.eval_on_selector_all("#weights .weights-arm", "fs => fs.map(f => f.dataset.epoch)")


def test_weight_images_of_three_arms_follow_the_scrubber(page, processes):
    import httpx

    url = processes.server()
    body = {"train_per_class": 60, "val_per_class": 50, "epochs": 3, "hidden": 64}
    exp = httpx.post(f"{url}/api/experiments", json=body).json()  # the tutorial's three arms
    page.goto(f"{url}/experiments/{exp['id']}")
    processes.worker()
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    assert weights_at(page, 3) == ["3", "3", "3"]
    assert page.is_visible("#weights") and "Weight images" in page.inner_text("#weights h2")
    # Per arm 16 tiles (4 x 4 of 28 x 28 pixels, a pixel between them) and the importance map.
    sizes = page.eval_on_selector_all(
        "#weights canvas", "cs => cs.map(c => [c.className, c.width, c.height, c.hidden])"
    )
    assert sizes == [["tiles", 115, 115, False], ["importance", 28, 28, False]] * 3, sizes
    names = page.eval_on_selector_all(
        "#weights figcaption", "fs => fs.map(f => f.innerText.trim())"
    )
    assert names == ["Original", "Lasso", "Ridge"]
    scale = page.inner_text("#weights .weights-scale")
    assert scale.startswith("Epoch 3:") and "for every arm" in scale, scale
    # Scrub to epoch 1 (keyboard), then back to the latest by "follow latest".
    page.locator("#epoch-slider").focus()
    page.keyboard.press("Home")
    assert weights_at(page, 1) == ["1", "1", "1"]
    assert page.inner_text("#weights .weights-scale").startswith("Epoch 1:")
    page.locator("#weights").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "weights.png"), full_page=True)
    page.check("#epoch-follow")
    assert weights_at(page, 3) == ["3", "3", "3"]
    # The new per-layer figures are in the statistic picker, charted like mean |w|.
    for stat in ("shrink", "sign_flip_frac", "dead_units"):
        page.select_option("#layer-stat", stat)
        page.wait_for_function(
            "(s) => document.getElementById('chart-weights').layout.title.text.length && "
            "document.getElementById('chart-weights').data.reduce((n, t) => n + t.x.length, 0) "
            ">= 9",
            arg=stat,
        )
    # Dead units are per hidden layer, not per weight matrix: the chart says so once redrawn.
    page.wait_for_function(
        "() => document.getElementById('chart-weights').layout.title.text.includes('hidden layer')"
    )
