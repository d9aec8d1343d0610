"""How much work an experiment asks for, checked against REGLAB_MAX_WORK before it is stored.

Image shapes, classes and split sizes are the spec's dataset facts (store.spec.DATASETS).
"""

from app.schemas import ExperimentIn
from store.spec import DATASET, TASK


def _toy_parameters(body: ExperimentIn) -> int:
    task = TASK[body.dataset]
    n_in, n_out, h = task.input_dim(body.n_features), task.out_dim, body.hidden
    if body.model == "simple_model":
        return n_in * n_out + n_out
    if body.model == "simple_net":
        return n_in * h + h + h * n_out + n_out
    return n_in * h + h + (body.depth - 1) * (h * h + h) + h * n_out


def parameter_count(body: ExperimentIn) -> int:
    if body.dataset in TASK:
        return _toy_parameters(body)
    data = DATASET[body.dataset]
    channels, height, width = data.shape
    h, classes = body.hidden, data.classes
    if body.model == "cnn":
        flat = 64 * (height // 4) * (width // 4)
        return (channels * 9 * 32 + 32) + (32 * 9 * 64 + 64) + (flat * h + h) + h * classes
    first = channels * height * width * h + h
    return first + (body.depth - 1) * (h * h + h) + h * classes


def training_images(body: ExperimentIn) -> int:
    """Images per epoch: train_per_class of every class, or the whole training split (a toy
    task: its training points)."""
    if body.dataset in TASK:
        return body.n_train
    data = DATASET[body.dataset]
    return body.train_per_class * data.classes if body.train_per_class else data.train_size


def runs(body: ExperimentIn) -> int:
    """Runs it queues: each arm once per repeat."""
    return len(body.runs) * body.repeats


def work(body: ExperimentIn) -> float:
    return float(parameter_count(body)) * training_images(body) * body.epochs * runs(body)


def over_budget(body: ExperimentIn, ceiling: float) -> str | None:
    """A message when the experiment is larger than the ceiling, else None."""
    w = work(body)
    if w <= ceiling:
        return None
    return (
        f"This experiment is too large: {parameter_count(body):,} parameters x training images x "
        f"epochs x {len(body.runs)} arms x {body.repeats} repeats = {w:.2g}, over the limit of "
        f"{ceiling:.2g} (REGLAB_MAX_WORK). Use fewer images, epochs, arms, repeats or hidden "
        "units."
    )
