"""The verdict table: per arm its final and best figures, and each figure's difference from a
reference arm (Original, or a sweep's zero arm), read from the stored metrics."""

import re
from typing import Any

from sqlmodel import Session

from app.views import sweep_value
from store import reads
from store.models import Run

# The figures compared with the reference arm, and which way is better for the table's mark:
# accuracy up, the gap down (less overfitting); mean |w| down and the near-zero fraction up are
# "most shrunk" and "sparsest", not better, and the page says so.
FIGURES = {
    "final_val_acc": "max",
    "best_val_acc": "max",
    "final_gap": "min",
    "final_mean_abs": "min",
    "final_near_zero_frac": "max",
    "dead_units": "min",
}


def first_weight_matrix(names: list[str]) -> str | None:
    """The network's first weight matrix: convolutions come before linear layers, then by index
    (model order). Key order cannot tell: PostgreSQL's JSONB does not keep it."""
    weights = [n for n in names if n.endswith(".weight") and not re.search(r"(^|\.)bn_", n)]

    def order(name: str) -> tuple[int, int, str]:
        digits = re.search(r"(\d+)", name)
        return (0 if name.startswith("conv") else 1, int(digits.group(1)) if digits else 0, name)

    return min(weights, key=order, default=None)


def _arm(run: Run, c: dict[str, Any]) -> dict[str, Any]:
    epochs = c["epoch"]
    arm: dict[str, Any] = {
        "run_id": run.id,
        "name": run.name,
        "status": run.status,
        "epochs_done": epochs[-1] if epochs else 0,
        "final_val_acc": None,
        "best_val_acc": None,
        "best_epoch": None,
        "final_gap": None,
        "final_mean_abs": None,
        "final_near_zero_frac": None,
        "dead_units": None,  # not measured yet (issue 21, point 4); the key stays
    }
    if not epochs or c["val_acc"][-1] is None:  # regression tasks have no accuracy
        return arm
    acc = c["val_acc"]
    # The first epoch that reached the best accuracy: a later tie is no better.
    best = max(range(len(acc)), key=lambda i: (acc[i], -i))
    arm.update(
        final_val_acc=acc[-1],
        best_val_acc=acc[best],
        best_epoch=epochs[best],
        final_gap=c["gap"][-1],
    )
    layer = first_weight_matrix(list(c["layers"]))
    if layer is not None:
        stats = c["layers"][layer]
        arm["final_mean_abs"] = (stats.get("mean_abs") or [None])[-1]
        arm["final_near_zero_frac"] = (stats.get("near_zero_frac") or [None])[-1]
    return arm


def reference_arm(runs: list[Run], swept: str | None) -> Run | None:
    """Original (any case) if an arm has that name; else a sweep's zero arm; else the first."""
    for run in runs:
        if run.name.strip().casefold() == "original":
            return run
    if swept is not None:
        for run in runs:
            if sweep_value(run.config, swept) == 0:
                return run
    return runs[0] if runs else None


def experiment_summary(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """Three queries, whatever the number of arms and epochs: the experiment, its runs, and
    every arm's metrics by column (store.reads.curves)."""
    stored = reads.experiment_arms(session, experiment_id)
    if stored is None:
        return None
    exp, runs = stored
    sweep = exp.config.get("sweep")
    ref = reference_arm(runs, sweep["param"] if sweep else None)
    by_run = reads.curves(session, [r.id for r in runs]) if runs else {}
    arms = [_arm(run, by_run[run.id]) for run in runs]
    base = next((a for a in arms if ref is not None and a["run_id"] == ref.id), None)
    for arm in arms:
        arm["vs_reference"] = {
            k: arm[k] - base[k] if base and arm[k] is not None and base[k] is not None else None
            for k in FIGURES
        }
    return {"reference": ref.id if ref else None, "arms": arms, "best": _best(arms)}


def _best(arms: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per figure, the arm that does best by it (FIGURES says which way is best)."""
    best: dict[str, int | None] = {}
    for key, way in FIGURES.items():
        scored = [a for a in arms if a[key] is not None]
        pick = max if way == "max" else min
        best[key] = pick(scored, key=lambda a: a[key])["run_id"] if scored else None
    return best
