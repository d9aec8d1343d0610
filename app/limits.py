"""How much work an experiment asks for, checked against REGLAB_MAX_WORK before it is stored."""

from app.schemas import ExperimentIn

# Training split sizes when an experiment asks for all of it (train_per_class: null).
FULL_TRAIN = {"mnist": 60_000, "fashion_mnist": 60_000, "kmnist": 60_000, "cifar10": 50_000}
IMAGE = {"cifar10": (3, 32)}  # (channels, side); the MNIST family is (1, 28)


def parameter_count(body: ExperimentIn) -> int:
    channels, side = IMAGE.get(body.dataset, (1, 28))
    h = body.hidden
    if body.model == "cnn":
        flat = 64 * (side // 4) ** 2
        return (channels * 9 * 32 + 32) + (32 * 9 * 64 + 64) + (flat * h + h) + h * 10
    first = channels * side * side * h + h
    return first + (body.depth - 1) * (h * h + h) + h * 10


def work(body: ExperimentIn) -> float:
    images = body.train_per_class * 10 if body.train_per_class else FULL_TRAIN[body.dataset]
    return float(parameter_count(body)) * images * body.epochs * len(body.runs)


def over_budget(body: ExperimentIn, ceiling: float) -> str | None:
    """A message when the experiment is larger than the ceiling, else None."""
    w = work(body)
    if w <= ceiling:
        return None
    return (
        f"This experiment is too large: {parameter_count(body):,} parameters x training images x "
        f"epochs x {len(body.runs)} arms = {w:.2g}, over the limit of {ceiling:.2g} "
        f"(REGLAB_MAX_WORK). Use fewer images, epochs, arms or hidden units."
    )
