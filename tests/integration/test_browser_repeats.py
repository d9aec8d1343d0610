"""Repeats in a real browser: 3 arms x 3 seeds; the bands grow live on the per-epoch charts, and
the verdict's sentences appear once the seeds finish."""

import pytest

from tests.integration.test_browser import ARTIFACTS, browser, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def bands(tab) -> int:
    """Points of the filled band traces on the accuracy chart (one band per arm and split)."""
    return tab.evaluate(
        """() => (document.getElementById('chart-acc').data || [])
                 .filter((t) => t.fill === 'tonexty').reduce((n, t) => n + t.x.length, 0)"""
    )


def test_three_arms_three_repeats_draw_bands_and_the_sentence(page, processes):  # noqa: F811
    import httpx

    url = processes.server()
    body = {"train_per_class": 10, "val_per_class": 20, "epochs": 3, "hidden": 32, "repeats": 3}
    exp = httpx.post(f"{url}/api/experiments", json=body).json()
    assert [(r["name"], r["seed"]) for r in exp["runs"]][:4] == [
        ("Original", 0), ("Lasso", 0), ("Ridge", 0), ("Original", 1)
    ]  # fmt: skip
    page.goto(f"{url}/experiments/{exp['id']}")
    processes.worker()
    seen = []
    for _ in range(2400):
        n = bands(page)
        if not seen or n != seen[-1]:
            seen.append(n)
        if n == 3 * 2 * 3:  # 3 arms, train and validation, 3 epochs: bands over all seeds
            break
        page.wait_for_timeout(50)
    assert seen[-1] == 18 and seen == sorted(seen), seen
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#verdict-sentences li').length === 2 && "
        "document.getElementById('verdict-sentences').innerText.includes('over 3 seeds')",
        timeout=30_000,
    )  # the summary follows the runs' ends within its refresh interval
    sentences = page.inner_text("#verdict-sentences")
    assert "Lasso vs Original:" in sentences and "Ridge vs Original:" in sentences
    assert "over 3 seeds" in sentences and "95 % CI" in sentences
    assert "±" in page.inner_text("#verdict-rows")
    # Each repeat, faintly, on demand; the weight views show one chosen seed.
    page.check("#show-repeats")
    page.wait_for_function(  # redrawn at the next frame
        "() => document.getElementById('chart-gap').data.some((t) => t.name.includes('seed'))"
    )
    names = page.evaluate("document.getElementById('chart-gap').data.map((t) => t.name)")
    assert "Lasso gap seed 2" in names and "Lasso gap (mean of 3)" in names
    page.select_option("#seed-pick", "1")
    names = page.evaluate("document.getElementById('chart-weights').data.map((t) => t.name)")
    assert sorted(names) == ["Lasso linear_1", "Lasso linear_2", "Original linear_1",
                             "Original linear_2", "Ridge linear_1", "Ridge linear_2"]  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "repeats.png"), full_page=True)
