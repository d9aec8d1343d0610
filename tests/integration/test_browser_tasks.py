"""The toy tasks in a real browser: the form shows only the fields of the chosen task, the moons
preset draws each arm's decision boundary, and a regression task's page never shows an accuracy."""

import pytest

from tests.integration.test_browser import ARTIFACTS, browser, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def field_state(page, name: str) -> dict:  # noqa: F811
    return page.evaluate(
        """(name) => { const el = document.querySelector(`#experiment-form [name='${name}']`);
                       return {visible: !!el.offsetParent, disabled: el.disabled}; }""",
        name,
    )


def chart_titles(page) -> dict[str, str]:  # noqa: F811
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.chart')]
                 .filter((el) => el.layout).map((el) => [el.id, el.layout.title.text]))"""
    )


def test_moons_boundaries_and_a_regression_without_accuracy(page, processes):  # noqa: F811
    url = processes.server()
    processes.worker()
    page.goto(url)
    page.click('button.preset[data-preset="moons"]')
    page.wait_for_function(
        "() => document.querySelector('#experiment-form [name=dataset]').value === 'moons'"
    )
    # Only the task's fields: its data parameters show, the image datasets' are hidden and off.
    assert field_state(page, "n_train") == {"visible": True, "disabled": False}
    assert field_state(page, "train_per_class") == {"visible": False, "disabled": True}
    assert field_state(page, "runs.0.augment") == {"visible": False, "disabled": True}
    assert page.evaluate(
        'document.querySelector("#experiment-form [name=model] option[value=cnn]").disabled'
    )
    page.fill('#experiment-form input[name="epochs"]', "3")
    page.click("#run-button")
    page.wait_for_url("**/experiments/*")
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    arms = page.evaluate("JSON.parse(document.getElementById('experiment-data').textContent).runs")
    # Each arm's boundary: the probability grid as an image under the data points, at epoch 3.
    page.wait_for_function(
        """(ids) => ids.every((id) => { const el = document.getElementById(`fn-boundary-${id}`);
                     return el && el.layout && el.layout.images.length === 1
                            && el.layout.title.text.includes('epoch 3'); })""",
        arg=[a["id"] for a in arms],
        timeout=30_000,
    )
    for a in arms:
        traces = page.evaluate(f"document.getElementById('fn-boundary-{a['id']}').data.length")
        assert traces == 4  # training and validation points of each class
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "moons.png"), full_page=True)

    # Scrubbing back to epoch 1 redraws the boundaries at epoch 1.
    page.evaluate(
        """() => { const s = document.getElementById('epoch-slider'); s.value = '1';
                   s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }"""
    )
    page.wait_for_function(
        """(id) => document.getElementById(`fn-boundary-${id}`)
                   .layout.title.text.includes('epoch 1')""",
        arg=arms[0]["id"],
    )

    # A regression task: picking it fills in its defaults; the page charts R², never accuracy.
    page.goto(url)
    page.select_option('#experiment-form select[name="dataset"]', "poly1d")
    assert field_state(page, "noise") == {"visible": True, "disabled": False}
    assert page.input_value('#experiment-form input[name="n_train"]') == "20"
    page.fill('#experiment-form input[name="epochs"]', "3")
    page.click("#run-button")
    page.wait_for_url("**/experiments/*")
    page.wait_for_selector("#experiment-status .badge.succeeded", timeout=120_000)
    page.wait_for_function("() => document.getElementById('fn-curve')?.data?.length >= 3")
    page.wait_for_function(
        "() => document.querySelectorAll('#verdict-rows tr[data-run]').length === 3"
    )
    titles = chart_titles(page)
    assert titles["chart-acc"].startswith("R²"), titles
    assert not [t for t in titles.values() if "ccuracy" in t], titles
    assert "acc" not in page.inner_text("table.verdict thead")
    page.screenshot(path=str(ARTIFACTS / "poly1d.png"), full_page=True)
