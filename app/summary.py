"""The verdict table: per arm its final and best figures, and each figure's difference from a
reference arm (Original, or a sweep's zero arm), read from the stored metrics.

With repeats (one run per arm and seed) each figure is the arm's mean over its repeats; beside it
the per-seed values, the 95 % t-intervals of the final and best validation accuracy and of the gap,
and the paired difference of the final validation accuracy from the reference arm over the seeds
both finished, with its sentence (app.statistics). Failed and cancelled repeats are left out of
the means and intervals, and named.
"""

import math
import re
from typing import Any

from sqlmodel import Session

from app import statistics
from app.views import arm_index, overall_status, sweep_value, task_kind
from store import reads
from store.models import Run, RunStatus
from store.spec import REGRESSION

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
# A regression task's (MSE): R² where accuracy would be, the validation loss, and the R² gap;
# never an accuracy.
REGRESSION_FIGURES = {
    "final_val_r2": "max",
    "best_val_r2": "max",
    "final_val_loss": "min",
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


def _arm(run: Run, c: dict[str, Any], regression: bool) -> dict[str, Any]:
    figures = REGRESSION_FIGURES if regression else FIGURES
    epochs = c["epoch"]
    arm: dict[str, Any] = {
        "run_id": run.id,
        "name": run.name,
        "status": run.status,
        "epochs_done": epochs[-1] if epochs else 0,
        "best_epoch": None,
        # Every figure's key, null until measured (dead_units: the first hidden layer's, at
        # the final epoch).
        **dict.fromkeys(figures),
    }
    score, train = ("val_r2", "train_r2") if regression else ("val_acc", "train_acc")
    if not epochs or c[score][-1] is None:
        return arm
    acc = c[score]
    # The first epoch that reached the best score: a later tie is no better.
    best = max(range(len(acc)), key=lambda i: (acc[i], -i))
    prefix = "r2" if regression else "acc"
    arm.update(
        {f"final_val_{prefix}": acc[-1], f"best_val_{prefix}": acc[best]},
        best_epoch=epochs[best],
        final_gap=c["gap"][-1] if not regression else c[train][-1] - acc[-1],
    )
    if regression:
        arm["final_val_loss"] = c["val_loss"][-1]
    layer = first_weight_matrix(list(c["layers"]))
    if layer is not None:
        stats = c["layers"][layer]
        arm["final_mean_abs"] = (stats.get("mean_abs") or [None])[-1]
        arm["final_near_zero_frac"] = (stats.get("near_zero_frac") or [None])[-1]
    arm["dead_units"] = first_hidden_dead(c.get("dead_units", [None])[-1])
    return arm


LEFT_OUT = frozenset({RunStatus.failed, RunStatus.cancelled})  # repeats that give no value


def intervals(figures: dict[str, str]) -> tuple[str, str, str]:
    """The figures given with a 95 % interval over repeats: the final and the best validation
    score (accuracy, or R² for a regression) and the gap; the first is the one the paired test
    and the sentence compare."""
    final, best = list(figures)[:2]
    return (final, best, "final_gap")


def per_seed_keys(figures: dict[str, str]) -> tuple[str, ...]:
    final, best, gap = intervals(figures)
    return (final, best, "best_epoch", gap, "epochs_done")


def _mean(values: list[Any]) -> float | None:
    kept = [v for v in values if v is not None]
    return math.fsum(kept) / len(kept) if kept else None


def per_seed(repeats: list[tuple[Run, dict[str, Any]]], key: str) -> dict[int, float | None]:
    """One figure of an arm's repeats keyed by seed; None for a failed or cancelled repeat."""
    return {r.seed: None if r.status in LEFT_OUT else a[key] for r, a in repeats}


def _over_repeats(
    repeats: list[tuple[Run, dict[str, Any]]], figures: dict[str, str]
) -> dict[str, Any]:
    """An arm's row from its repeats (run, figures), lowest seed first: the first repeat's ids
    and name, each figure's mean over the repeats that count, the per-seed values and the
    intervals. A lone repeat shows what it logged, whatever its status (as before repeats)."""
    first = repeats[0][1]
    counted = [a for r, a in repeats if r.status not in LEFT_OUT]
    if len(repeats) == 1:
        counted = [first]
    arm = dict(first)
    arm.update({key: _mean([a[key] for a in counted]) for key in figures})
    arm["status"] = overall_status([r.status for r, _ in repeats])
    arm["epochs_done"] = min((a["epochs_done"] for a in counted), default=first["epochs_done"])
    arm["best_epoch"] = first["best_epoch"] if len(repeats) == 1 else None
    arm["arm"] = arm_index(repeats[0][0], 0)
    arm["repeats"] = len(repeats)
    arm["seeds"] = [
        {
            "seed": r.seed,
            "run_id": r.id,
            "status": r.status,
            **{k: a[k] for k in per_seed_keys(figures)},
        }
        for r, a in repeats
    ]
    arm["left_out"] = sorted(r.seed for r, _ in repeats if r.status in LEFT_OUT)
    arm["pending"] = sum(r.status in (RunStatus.queued, RunStatus.running) for r, _ in repeats)
    arm["intervals"] = {
        key: statistics.mean_interval(per_seed(repeats, key)).to_dict()
        for key in intervals(figures)
    }
    return arm


def _against(
    arm: dict[str, Any], ref: dict[str, Any], repeats, ref_repeats, figures: dict[str, str]
) -> None:
    """The arm's paired difference from the reference arm over seeds, and its sentence:
    accuracy in percentage points, R² as it is."""
    if arm is ref:
        arm["difference"], arm["sentence"] = None, None
        return
    key = intervals(figures)[0]
    diff = statistics.paired_difference(per_seed(repeats, key), per_seed(ref_repeats, key))
    arm["difference"] = {**diff.to_dict(), "values": {str(k): v for k, v in diff.values.items()}}
    scale = {"scale": 1, "unit": "in R²", "digits": 3} if key.endswith("r2") else {}
    arm["sentence"] = statistics.sentence(arm["name"], ref["name"], diff, **scale)


def first_hidden_dead(dead: dict[str, float] | None) -> float | None:
    """The fraction of dead units of the network's first hidden layer (its first weight
    matrix's layer), from one epoch's {layer: fraction}."""
    if not dead:
        return None
    first = first_weight_matrix([f"{name}.weight" for name in dead])
    return dead[first.removesuffix(".weight")] if first else None


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
    """Three queries, whatever the number of arms, repeats and epochs: the experiment, its runs,
    and every run's metrics by column (store.reads.curves)."""
    stored = reads.experiment_arms(session, experiment_id)
    if stored is None:
        return None
    exp, runs = stored
    sweep = exp.config.get("sweep")
    by_run = reads.curves(session, [r.id for r in runs]) if runs else {}
    kind = task_kind(exp.config)
    figures = REGRESSION_FIGURES if kind == REGRESSION else FIGURES
    grouped: dict[int, list[tuple[Run, dict[str, Any]]]] = {}
    for i, run in enumerate(runs):
        row = _arm(run, by_run[run.id], kind == REGRESSION)
        grouped.setdefault(arm_index(run, i), []).append((run, row))
    groups = [sorted(grouped[k], key=lambda x: (x[0].seed or 0, x[0].id)) for k in sorted(grouped)]
    ref_run = reference_arm([g[0][0] for g in groups], sweep["param"] if sweep else None)
    arms = [_over_repeats(g, figures) for g in groups]
    base = next((a for a in arms if ref_run is not None and a["run_id"] == ref_run.id), None)
    for arm, group in zip(arms, groups, strict=True):
        arm["vs_reference"] = {
            k: arm[k] - base[k] if base and arm[k] is not None and base[k] is not None else None
            for k in figures
        }
        if base is not None:
            _against(arm, base, group, groups[arms.index(base)], figures)
    return {
        "reference": ref_run.id if ref_run else None,
        "kind": kind,
        "repeats": int(exp.config.get("repeats", 1)),
        "arms": arms,
        "best": _best(arms, figures),
        "one_se": _one_se(sweep["param"], groups, figures) if sweep else None,
    }


def _one_se(param: str, groups, figures: dict[str, str]) -> dict[str, Any] | None:
    """A sweep's best value by mean final validation score (accuracy, or R² for a regression)
    over seeds, and the largest value within one standard error of it (app.statistics); None
    until a point has a value. One-SE keys are the swept values; JSON gives them as strings."""
    score = intervals(figures)[0]
    path = {sweep_value(g[0][0].config, param): per_seed(g, score) for g in groups}
    try:
        rule = statistics.one_standard_error(path).to_dict()
    except ValueError:  # no point has a value yet
        return None
    rule["means"] = [[lam, mean] for lam, mean in rule["means"].items()]
    return rule


def _best(arms: list[dict[str, Any]], figures: dict[str, str]) -> dict[str, int | None]:
    """Per figure, the arm that does best by it (`figures` says which way is best)."""
    best: dict[str, int | None] = {}
    for key, way in figures.items():
        scored = [a for a in arms if a[key] is not None]
        pick = max if way == "max" else min
        best[key] = pick(scored, key=lambda a: a[key])["run_id"] if scored else None
    return best
