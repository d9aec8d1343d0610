"""Living with experiments in a real browser (Playwright driving Debian's Chromium against real
server and worker processes): find, annotate, re-run, edit, compare, delete; phones; dark mode."""

import httpx
import pytest

from tests.conftest import wait_for
from tests.factories import SMALL
from tests.integration.test_browser import ARTIFACTS, CHROMIUM, browser, chart_points, page  # noqa: F401

pytestmark = pytest.mark.browser


def create(url, **fields):
    r = httpx.post(f"{url}/api/experiments", json={**SMALL, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def test_find_rename_tag_run_again_and_edit_as_new(page, processes):  # noqa: F811
    url = processes.server()
    ridge = create(
        url, name="Ridge check", runs=[{"name": "Original"}, {"name": "Ridge", "l2": 0.001}]
    )
    create(url, dataset="kmnist", runs=[{"name": "a"}])
    lasso = create(url, runs=[{"name": "Original"}, {"name": "Tiny lasso", "l1": 0.0001}])

    page.goto(url)
    rows = page.locator("table.experiments tbody tr")
    assert rows.count() == 3
    page.fill("#list-q", "ridge")  # searched as one types, the address keeps it
    page.wait_for_function(
        "() => document.querySelectorAll('table.experiments tbody tr').length === 1"
    )
    assert rows.first.get_attribute("data-experiment") == str(ridge["id"])
    page.wait_for_function("() => location.search.includes('q=ridge')")
    page.fill("#list-q", "")
    page.select_option("#list-dataset", "kmnist")
    page.wait_for_function(
        """() => { const rows = document.querySelectorAll('table.experiments tbody tr');
                   return rows.length === 1 && rows[0].innerText.includes('KMNIST'); }"""
    )
    page.select_option("#list-dataset", "")
    page.select_option("#list-status", "succeeded")
    page.wait_for_selector("#list-count:has-text('No experiment matches')")
    page.select_option("#list-status", "queued")
    page.wait_for_function(
        "() => document.querySelectorAll('table.experiments tbody tr').length === 3"
    )

    # Rename and tag on the experiment page; the list finds it by its tag and its note.
    page.goto(f"{url}/experiments/{lasso['id']}")
    page.click('[data-action="annotate"]')
    page.fill('#annotate-form [name="tags"]', "why?")
    page.click('#annotate-form button[type="submit"]')
    page.wait_for_selector("#annotate-error:not([hidden])")
    assert "a tag is one word" in page.inner_text("#annotate-error")
    assert page.evaluate("() => document.activeElement.name") == "tags"
    page.fill('#annotate-form [name="name"]', "Lasso, tiny λ")
    page.fill('#annotate-form [name="tags"]', "sparse v2")
    page.fill('#annotate-form [name="notes"]', "λ = 1e-4 keeps accuracy")
    page.click('#annotate-form button[type="submit"]')
    page.wait_for_selector("#annotate-form", state="hidden")
    assert page.inner_text("#experiment-name") == "Lasso, tiny λ"
    assert page.locator("#experiment-tags .tag").all_inner_texts() == ["sparse", "v2"]
    page.reload()
    assert page.inner_text("#experiment-notes") == "λ = 1e-4 keeps accuracy"
    page.click("#experiment-tags .tag >> text=sparse")
    page.wait_for_url("**/?tag=sparse*")
    assert page.locator("table.experiments tbody tr").count() == 1
    page.fill("#list-tag", "")
    page.wait_for_function(
        "() => document.querySelectorAll('table.experiments tbody tr').length === 3"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#experiments").screenshot(path=str(ARTIFACTS / "home-list.png"))
    assert "Lasso, tiny λ" in page.inner_text("table.experiments")

    # Run again: a new experiment with the same arms.
    page.goto(f"{url}/experiments/{lasso['id']}")
    page.click('[data-action="run-again"]')
    page.wait_for_url(lambda u: u.rstrip("/").split("/")[-1] not in ("", str(lasso["id"])))
    assert page.locator(".card strong").all_inner_texts() == ["Original", "Tiny lasso"]
    assert page.inner_text("#experiment-name") == "Lasso, tiny λ"

    # Edit as new: the form holds its arms, the lambda shown in full.
    page.goto(f"{url}/experiments/{lasso['id']}")
    page.click("#edit-as-new")
    page.wait_for_selector("#edit-source")
    assert page.input_value('input[name="runs.1.name"]') == "Tiny lasso"
    assert page.input_value('input[name="runs.1.l1"]') == "0.0001"
    fits = page.evaluate(
        "(() => { const el = document.querySelector('input[name=\"runs.1.l1\"]');"
        " return el.scrollWidth <= el.clientWidth; })()"
    )
    assert fits, "the lambda does not fit its field"
    page.fill('input[name="runs.1.l1"]', "0.001")
    page.fill('input[name="hidden"]', "-3")
    page.click("#run-button")
    page.wait_for_selector("#error-hidden")
    assert page.inner_text("#error-hidden") == "Must be 1 or more"
    assert page.evaluate("document.activeElement.name") == "hidden"
    page.fill('input[name="hidden"]', "32")
    page.click("#run-button")
    page.wait_for_url("**/experiments/*")
    assert page.locator(".card .treatments").nth(1).inner_text() == "L1 λ 1e-3"


def _pick(tab, run_id):
    tab.locator(f'input.compare-pick[value="{run_id}"]').check()


def test_compare_arms_of_two_experiments_then_delete_one(page, processes, settings):  # noqa: F811
    url = processes.server()
    a = create(url, runs=[{"name": "Original"}, {"name": "Ridge", "l2": 0.001}])
    b = create(url, hidden=64, runs=[{"name": "Ridge wide", "l2": 0.001}])
    processes.worker()

    def done():
        got = httpx.get(f"{url}/api/experiments?status=succeeded").headers["x-total-count"]
        return got == "2"

    wait_for(done, timeout=120, what="both experiments to succeed")

    page.goto(f"{url}/experiments/{a['id']}")
    _pick(page, a["runs"][1]["id"])  # on an experiment page...
    page.goto(url)
    page.wait_for_selector("#compare-bar:not([hidden])")
    assert page.locator(f'input.compare-pick[value="{a["runs"][1]["id"]}"]').is_checked()
    _pick(page, b["runs"][0]["id"])  # ...and on the home page
    assert "2 arms ticked" in page.inner_text("#compare-count")
    page.click("#compare-link")
    page.wait_for_url("**/compare?runs=*")
    diff = page.locator("#config-diff tbody tr")
    assert diff.count() == 1 and diff.first.get_attribute("data-key") == "hidden"
    assert diff.first.locator("td").all_inner_texts() == ["32", "64"]
    page.wait_for_function("() => document.getElementById('chart-loss').data?.length === 4")
    assert chart_points(page, "chart-loss") == 2 * 2 * 2  # 2 arms x 2 epochs x (train, val)
    page.wait_for_function("() => document.getElementById('histograms').children.length >= 2")
    for fmt, title in (("svg", "Download as SVG"), ("png", "Download plot as a PNG")):
        with page.expect_download() as info:  # Plotly's own toolbar, both formats
            page.locator(f'#chart-acc .modebar-btn[data-title="{title}"]').click()
        assert info.value.suggested_filename == f"reglab-chart-acc.{fmt}"
    page.select_option("#layer-stat", "l1")  # the chart option is in the link
    assert "layer=l1" in page.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    page.reload()
    assert page.input_value("#layer-stat") == "l1"

    # Delete experiment a from its page: confirmed, its files leave the disk, and it is gone.
    files = {p.name for p in settings.checkpoints.iterdir()}
    assert {f"run-{r['id']}.pt" for r in a["runs"]} <= files
    page.goto(f"{url}/experiments/{a['id']}")
    page.once("dialog", lambda d: d.accept())
    page.click('[data-action="delete"]')
    page.wait_for_url(f"{url}/#experiments")
    left = {p.name for p in settings.checkpoints.iterdir()}
    assert left == {f"run-{b['runs'][0]['id']}.pt", f"run-{b['runs'][0]['id']}.safetensors"}
    assert page.locator("table.experiments tbody tr").count() == 1
    assert httpx.get(f"{url}/experiments/{a['id']}").status_code == 404
    page.wait_for_selector("#compare-bar:not([hidden])")
    assert "1 arm ticked" in page.inner_text("#compare-count")  # the deleted arm left the picks


def _overlap(tab, chart_id) -> dict | None:
    """None when the chart's title and Plotly's toolbar do not overlap and the title fits inside
    the chart; else their boxes."""
    return tab.evaluate(
        """(id) => { const el = document.getElementById(id);
            const r = (e) => { const b = e.getBoundingClientRect();
                return {left: b.left, right: b.right, top: b.top, bottom: b.bottom}; };
            const t = r(el.querySelector('.gtitle')), bar = r(el.querySelector('.modebar'));
            const box = r(el);
            const apart = t.bottom <= bar.top || t.top >= bar.bottom || t.right <= bar.left
                          || t.left >= bar.right;
            return apart && t.left >= box.left && t.right <= box.right ? null : {t, bar, box}; }""",
        chart_id,
    )


def test_phones_scroll_no_page_sideways_and_dark_mode_reaches_the_charts(browser, processes):  # noqa: F811
    url = processes.server()
    a = create(url, runs=[{"name": "Original"}, {"name": "Lasso", "l1": 0.0001}])
    b = create(url, runs=[{"name": "Ridge", "l2": 0.001}])
    processes.worker()
    wait_for(
        lambda: (
            httpx.get(f"{url}/api/experiments?status=succeeded").headers["x-total-count"] == "2"
        ),
        timeout=120,
        what="both experiments to succeed",
    )
    runs = f"{a['runs'][1]['id']},{b['runs'][0]['id']}"
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, color_scheme=scheme, device_scale_factor=2
        )
        tab = context.new_page()
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))  # noqa: B023
        for name, path in (
            ("home", "/"),
            ("experiment", f"/experiments/{a['id']}"),
            ("compare", f"/compare?runs={runs}"),
        ):
            tab.goto(url + path)
            if name != "home":
                tab.wait_for_function(
                    "() => document.getElementById('chart-loss').data?.length >= 2"
                )
                tab.wait_for_selector("#chart-loss .modebar", state="attached")
                tab.wait_for_timeout(300)  # responsive charts settle to the width
                for chart in ("chart-loss", "chart-acc", "chart-weights"):
                    assert _overlap(tab, chart) is None, (name, chart, _overlap(tab, chart))
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (scheme, name, width)
            if name == "home":  # the arms editor: one card per arm, every lambda in full
                lasso = tab.locator('input[name="runs.1.l1"]')
                assert lasso.input_value() == "0.0001"
                assert lasso.evaluate("el => el.scrollWidth <= el.clientWidth")
            tab.screenshot(path=str(ARTIFACTS / f"phone-{name}-{scheme}.png"), full_page=True)
            if scheme == "dark":
                bg = tab.evaluate("getComputedStyle(document.body).backgroundColor")
                assert bg == "rgb(18, 21, 27)", bg
                if name != "home":
                    paper = tab.evaluate(
                        "document.getElementById('chart-loss')._fullLayout.paper_bgcolor"
                    )
                    assert paper in ("#1b1f27", "rgb(27, 31, 39)"), paper
        context.close()
        assert errors == []


def test_the_chosen_arm_and_chart_options_live_in_the_url(page, processes):  # noqa: F811
    url = processes.server()
    sweep = create(url, sweep={"param": "l2", "from": 0.001, "to": 0.1, "points": 3})
    page.goto(f"{url}/experiments/{sweep['id']}")
    chosen = sweep["runs"][2]
    page.select_option("#sweep-arm", str(chosen["id"]))
    page.select_option("#extra-stat", "epoch_time")
    assert f"arm={chosen['id']}" in page.url and "extra=epoch_time" in page.url
    page.goto(page.url)  # the link, opened again, shows the same view
    assert page.input_value("#sweep-arm") == str(chosen["id"])
    assert page.input_value("#extra-stat") == "epoch_time"
    pinned = "async () => (await import('/static/js/live.js')).Live.pinned"
    assert page.evaluate(pinned) == chosen["id"]
