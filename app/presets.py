"""One-click experiments for the form: the regularization curriculum, lesson by lesson, and
the source texts' own setups on toy tasks (one preset per text)."""

from typing import Any

from app.schemas import ExperimentIn, RunIn, SweepIn

PRESETS: dict[str, tuple[str, ExperimentIn]] = {
    "tutorial": ("Tutorial: Original vs Lasso vs Ridge", ExperimentIn()),
    "lambda": (
        "Lambda: too little, right, too much",
        ExperimentIn(
            runs=[
                RunIn(name="Original"),
                RunIn(name="Ridge 1e-5 (too little)", l2=1e-5),
                RunIn(name="Ridge 1e-3 (right)", l2=1e-3),
                RunIn(name="Ridge 1e-1 (too much)", l2=1e-1),
            ]
        ),
    ),
    "proximal": (
        "Subgradient vs proximal L1",
        ExperimentIn(
            runs=[
                RunIn(name="Original"),
                RunIn(name="L1 in the loss", l1=1e-4),
                RunIn(name="Proximal L1", prox_l1=1e-1),
            ]
        ),
    ),
    "dropout_bn": (
        "Dropout vs batch norm",
        ExperimentIn(
            runs=[
                RunIn(name="Original"),
                RunIn(name="Dropout 0.5", dropout=0.5),
                RunIn(name="Batch norm", batchnorm=True),
                RunIn(name="Both", dropout=0.5, batchnorm=True),
            ]
        ),
    ),
    "augment": (
        "Augmentation on small data",
        ExperimentIn(
            epochs=40,
            runs=[
                RunIn(name="Original"),
                # No flip: a mirrored digit is often another digit (or none).
                RunIn(name="Augmented", augment=True, aug_flip=False, aug_rotate=15, aug_scale=0.8),
            ],
        ),
    ),
    "sweep": (
        "Sweep: L2 from 1e-6 to 1e-1",
        ExperimentIn(sweep=SweepIn(param="l2", from_=1e-6, to=0.1, points=9, include_zero=True)),
    ),
    "mixed": (
        "Mixed: L1 on layer 1, L2 on layer 2",
        ExperimentIn(
            runs=[
                RunIn(name="Original"),
                RunIn(name="L1 on 1, L2 on 2", l1_layers=[1e-4, 0.0], l2_layers=[0.0, 1e-3]),
                RunIn(name="Elastic net", l1=1e-4, l2=1e-3),
            ]
        ),
    ),
    "l2_article": (
        "L2 article: SimpleModel with SGD weight_decay",
        ExperimentIn(
            dataset="linear_teacher",
            model="simple_model",
            optimizer="sgd",
            lr=0.01,
            runs=[
                RunIn(name="weight_decay 0"),
                RunIn(name="weight_decay 0.01", weight_decay=0.01),
                RunIn(name="weight_decay 0.1", weight_decay=0.1),
            ],
        ),
    ),
    "wd_lesson": (
        "Weight-decay lesson: SimpleNet on noise",
        # The lesson's setup; 200 full-batch steps instead of its 5, so the memorisation (train
        # loss falling, held-out loss rising) and weight decay's effect on it show.
        ExperimentIn(
            dataset="noise_regression",
            model="simple_net",
            optimizer="adam",
            lr=0.01,
            epochs=200,
            runs=[
                RunIn(name="weight_decay 0"),
                RunIn(name="weight_decay 1e-4", weight_decay=1e-4, penalize_bias=True),
                RunIn(name="weight_decay 1e-2", weight_decay=1e-2, penalize_bias=True),
            ],
        ),
    ),
    "poly": (
        "Polynomial: overfitting vs L2",
        ExperimentIn(
            dataset="poly1d",
            epochs=500,
            runs=[
                RunIn(name="Original"),
                RunIn(name="L2 1e-4", l2=1e-4),
                RunIn(name="L2 1e-3", l2=1e-3),
                RunIn(name="L2 1e-2", l2=1e-2),
            ],
        ),
    ),
    "moons": (
        "Moons: decision boundaries under L2 and dropout",
        ExperimentIn(
            dataset="moons",
            n_train=100,
            noise=0.3,
            epochs=300,
            runs=[
                RunIn(name="Original"),
                RunIn(name="L2 1e-3", l2=1e-3),
                RunIn(name="L2 1e-2", l2=1e-2),
                RunIn(name="Dropout 0.3", dropout=0.3),
            ],
        ),
    ),
    "sparse": (
        "Sparse regression: L1 finds the features",
        ExperimentIn(
            dataset="sparse_linear",
            n_train=40,
            epochs=300,
            sweep=SweepIn(param="l1", from_=1e-4, to=0.1, points=7, include_zero=True),
        ),
    ),
}


def preset_body(experiment: Any) -> dict[str, Any]:
    """A preset as the JSON body that POSTs it: a sweep is sent as the sweep (its arms are
    expanded from it), other experiments as their arms; no name (the server names it)."""
    body = experiment.model_dump(mode="json", by_alias=True, exclude={"name"})
    body.pop("runs" if experiment.sweep is not None else "sweep")
    return body


def presets_public() -> dict[str, dict[str, Any]]:
    """`GET /api/presets`: {key: {"label", "experiment": <the POST body>}}."""
    return {
        key: {"label": label, "experiment": preset_body(exp)}
        for key, (label, exp) in PRESETS.items()
    }
