"""A regression task's verdict, CSV and function views, trained by a real worker: R² and MSE,
never an accuracy; the 2-D tasks' boundaries and sparse_linear's coefficients as the page
fetches them."""

import csv
import io

from worker.loop import Worker


def trained(client, settings, **body) -> dict:
    r = client.post("/api/experiments", json={"epochs": 2, **body})
    assert r.status_code == 201, r.text
    Worker(settings).run_forever(exit_when_idle=True)
    return client.get(f"/api/experiments/{r.json()['id']}").json()


def test_a_regression_task_says_r2_and_loss_never_accuracy(client, settings):
    exp = trained(
        client, settings, dataset="poly1d", runs=[{"name": "Original"}, {"name": "L2", "l2": 0.01}]
    )
    summary = client.get(f"/api/experiments/{exp['id']}/summary").json()
    assert summary["kind"] == "regression"
    original, l2 = summary["arms"]
    metrics = client.get(f"/api/runs/{l2['run_id']}/metrics").json()["epochs"]
    assert l2["final_val_r2"] == metrics[-1]["val_r2"]
    assert l2["final_val_loss"] == metrics[-1]["val_loss"]
    assert l2["final_gap"] == metrics[-1]["train_r2"] - metrics[-1]["val_r2"]
    assert l2["vs_reference"]["final_val_r2"] == l2["final_val_r2"] - original["final_val_r2"]
    assert not [k for k in l2 if "acc" in k] and not [k for k in summary["best"] if "acc" in k]

    r = client.get(f"/api/experiments/{exp['id']}/metrics.csv")
    head = next(csv.reader(io.StringIO(r.text)))
    assert "val_r2" in head and "train_loss" in head
    assert not [h for h in head if "acc" in h] and "gap" not in head

    # An image dataset's table keeps its accuracy columns and has no R² ones.
    image = trained(
        client, settings, train_per_class=5, val_per_class=5, hidden=8, runs=[{"name": "a"}]
    )
    r = client.get(f"/api/experiments/{image['id']}/metrics.csv")
    head = next(csv.reader(io.StringIO(r.text)))
    assert "val_acc" in head and "gap" in head and "val_r2" not in head
    assert client.get(f"/api/experiments/{image['id']}/summary").json()["kind"] == "classification"
