"""One-click experiments for the form: the regularization curriculum, lesson by lesson."""

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
}
