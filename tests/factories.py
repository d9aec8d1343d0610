"""Set-up data shared by the tests: experiment bodies for the API, the form's fields, a queue's
config, and a helper that posts one. Each is the smallest that exercises what its tests say."""

# The smallest MNIST experiment: trains in well under a second on one core.
TINY = {
    "dataset": "mnist",
    "train_per_class": 5,
    "val_per_class": 5,
    "epochs": 1,
    "hidden": 8,
    "batch_size": 16,
}
ONE_ARM = {**TINY, "runs": [{"name": "a"}]}

# Enough data for two epochs to differ and for the arms' curves to be told apart.
SMALL = {"dataset": "mnist", "train_per_class": 20, "val_per_class": 20, "epochs": 2, "hidden": 32}
THREE_ARMS = [{"name": "original"}, {"name": "lasso", "l1": 0.0001}, {"name": "ridge", "l2": 0.001}]
SMALL_THREE_ARMS = {
    **SMALL,
    "batch_size": 32,
    "lr": 0.001,
    "optimizer": "adam",
    "seed": 0,
    "runs": THREE_ARMS,
}

# What the managing tests (annotate, re-run, compare, delete) create.
MANAGED = {"train_per_class": 10, "val_per_class": 10, "epochs": 2, "hidden": 16, "batch_size": 32}

# An experiment's config as store.queue.create_experiment takes it.
QUEUED = {"dataset": "mnist", "epochs": 3, "seed": 0}

# The home page's form, filled in: two arms, SMALL's sizes.
FORM = {
    "name": "",
    "dataset": "mnist",
    "train_per_class": "20",
    "val_per_class": "20",
    "model": "mlp",
    "hidden": "32",
    "depth": "1",
    "optimizer": "adam",
    "lr": "0.001",
    "momentum": "0",
    "batch_size": "32",
    "epochs": "2",
    "seed": "0",
    "precision": "fp32",
    "runs.0.name": "Original",
    "runs.0.l1": "0",
    "runs.0.aug_flip": "on",
    "runs.1.name": "Lasso",
    "runs.1.l1": "0.0001",
    "runs.1.l2": "0",
    "runs.1.aug_flip": "on",
}


def create(client, base: dict = MANAGED, **fields) -> dict:
    """POST an experiment (`base` with `fields` over it) and return its 201 answer."""
    r = client.post("/api/experiments", json={**base, **fields})
    assert r.status_code == 201, r.text
    return r.json()
