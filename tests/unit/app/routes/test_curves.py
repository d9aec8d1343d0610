"""The experiment page's data: curves by column and histograms per epoch, the same numbers as the
per-run API, and a page whose size does not grow with the experiment."""

import json
import re

from store import bins
from tests.factories import SMALL_THREE_ARMS
from worker.loop import Worker


def test_curves_and_histograms_are_the_per_run_numbers(client, settings):
    exp = client.post("/api/experiments", json=SMALL_THREE_ARMS).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    curves = client.get(f"/api/experiments/{exp['id']}/curves").json()
    assert [c["run_id"] for c in curves["runs"]] == [r["id"] for r in exp["runs"]]
    assert curves["cursor"] > 0
    for c in curves["runs"]:
        rows = client.get(f"/api/runs/{c['run_id']}/metrics").json()["epochs"]
        assert c["epoch"] == [m["epoch"] for m in rows] == [1, 2]
        for key in ("train_loss", "val_loss", "train_acc", "val_acc", "penalty", "gap", "lr"):
            assert c[key] == [m[key] for m in rows], key
        assert set(c["layers"]) == {k for k in rows[0]["layers"] if k.endswith(".weight")}
        for layer, stats in c["layers"].items():
            for stat, column in stats.items():
                assert column == [m["layers"][layer][stat] for m in rows], (layer, stat)

    latest = client.get(f"/api/experiments/{exp['id']}/histograms").json()
    first = client.get(f"/api/experiments/{exp['id']}/histograms?epoch=1").json()
    for run, h_latest, h_first in zip(exp["runs"], latest["runs"], first["runs"], strict=True):
        assert h_latest["run_id"] == h_first["run_id"] == run["id"]
        assert h_latest["epoch"] == 2 and h_first["epoch"] == 1
        own = client.get(f"/api/runs/{run['id']}/histograms?epoch=1").json()
        assert h_first["layers"] == own["layers"]
    # An epoch no arm reached is shown as such, never as another epoch.
    missing = client.get(f"/api/experiments/{exp['id']}/histograms?epoch=9").json()
    assert all(r["epoch"] is None and r["layers"] == {} for r in missing["runs"])


def test_unknown_experiment_curves_and_histograms_answer_404(client):
    assert client.get("/api/experiments/999/curves").status_code == 404
    assert client.get("/api/experiments/999/histograms").status_code == 404
    assert client.get("/api/experiments/1/histograms?epoch=0").status_code == 422


def test_the_page_carries_no_measurements(client, settings):
    exp = client.post("/api/experiments", json=SMALL_THREE_ARMS).json()
    empty = client.get(f"/experiments/{exp['id']}").text
    Worker(settings).run_forever(exit_when_idle=True)
    html = client.get(f"/experiments/{exp['id']}").text
    data = json.loads(re.search(r'id="experiment-data">(.*?)</script>', html, re.S).group(1))
    assert [set(r) for r in data["runs"]] == [{"id", "name", "value", "arm", "seed"}] * 3
    # Trained or not, the page is the same size but for the cards' texts.
    assert abs(len(html) - len(empty)) < 4000


def test_fine_bins_and_distributions_come_from_the_stored_histograms(client, settings):
    exp = client.post("/api/experiments", json=SMALL_THREE_ARMS).json()
    assert Worker(settings).run_forever(exit_when_idle=True) == 3
    dist = client.get(f"/api/experiments/{exp['id']}/distributions").json()
    assert dist["layer"] == dist["layers"][0] == "linear_1.weight"
    assert dist["percentiles"] == [0, 7, 16, 50, 84, 93, 100]
    assert [d["run_id"] for d in dist["runs"]] == [r["id"] for r in exp["runs"]]
    for d in dist["runs"]:
        assert d["epochs"] == [1, 2]
        for epoch, values in zip(d["epochs"], d["values"], strict=True):
            h = client.get(f"/api/runs/{d['run_id']}/histograms?epoch={epoch}").json()
            h = h["layers"]["linear_1.weight"]
            # The fine grid, read back from the database, re-bins exactly to the 80 counts.
            assert bins.fine_to_counts(h["level"], h["fine"]) == h["counts"]
            sparse, res = bins.histogram_sparse(h["level"], h["counts"], h["fine"])
            assert values == bins.sparse_percentiles(sparse, bins.width(h["base"], res))
            assert values == sorted(values) and values[0] < 0 < values[-1]
    other = client.get(f"/api/experiments/{exp['id']}/distributions?layer=linear_2.weight").json()
    assert other["layer"] == "linear_2.weight"
    assert other["runs"][0]["values"] != dist["runs"][0]["values"]
    assert client.get("/api/experiments/999/distributions").status_code == 404
