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
from app.views import arm_index, overall_status, sweep_value
from store import reads
from store.models import Run, RunStatus

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
        "dead_units": None,  # the first hidden layer's, at the final epoch; null if unmeasured
    }
    if not epochs:
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
    arm["dead_units"] = first_hidden_dead(c.get("dead_units", [None])[-1])
    return arm


# The figures given with a 95 % interval over repeats; the first is the one the paired test and
# the sentence compare.
INTERVALS = ("final_val_acc", "best_val_acc", "final_gap")
LEFT_OUT = frozenset({RunStatus.failed, RunStatus.cancelled})  # repeats that give no value
PER_SEED = ("final_val_acc", "best_val_acc", "best_epoch", "final_gap", "epochs_done")


def _mean(values: list[Any]) -> float | None:
    kept = [v for v in values if v is not None]
    return math.fsum(kept) / len(kept) if kept else None


def per_seed(repeats: list[tuple[Run, dict[str, Any]]], key: str) -> dict[int, float | None]:
    """One figure of an arm's repeats keyed by seed; None for a failed or cancelled repeat."""
    return {r.seed: None if r.status in LEFT_OUT else a[key] for r, a in repeats}


def _over_repeats(repeats: list[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    """An arm's row from its repeats (run, figures), lowest seed first: the first repeat's ids
    and name, each figure's mean over the repeats that count, the per-seed values and the
    intervals. A lone repeat shows what it logged, whatever its status (as before repeats)."""
    first = repeats[0][1]
    counted = [a for r, a in repeats if r.status not in LEFT_OUT]
    if len(repeats) == 1:
        counted = [first]
    arm = dict(first)
    arm.update({key: _mean([a[key] for a in counted]) for key in FIGURES})
    arm["status"] = overall_status([r.status for r, _ in repeats])
    arm["epochs_done"] = min((a["epochs_done"] for a in counted), default=first["epochs_done"])
    arm["best_epoch"] = first["best_epoch"] if len(repeats) == 1 else None
    arm["arm"] = arm_index(repeats[0][0], 0)
    arm["repeats"] = len(repeats)
    arm["seeds"] = [
        {"seed": r.seed, "run_id": r.id, "status": r.status, **{k: a[k] for k in PER_SEED}}
        for r, a in repeats
    ]
    arm["left_out"] = sorted(r.seed for r, _ in repeats if r.status in LEFT_OUT)
    arm["pending"] = sum(r.status in (RunStatus.queued, RunStatus.running) for r, _ in repeats)
    arm["intervals"] = {
        key: statistics.mean_interval(per_seed(repeats, key)).to_dict() for key in INTERVALS
    }
    return arm


def _against(arm: dict[str, Any], ref: dict[str, Any], repeats, ref_repeats) -> None:
    """The arm's paired difference from the reference arm over seeds, and its sentence."""
    if arm is ref:
        arm["difference"], arm["sentence"] = None, None
        return
    key = INTERVALS[0]
    diff = statistics.paired_difference(per_seed(repeats, key), per_seed(ref_repeats, key))
    arm["difference"] = {**diff.to_dict(), "values": {str(k): v for k, v in diff.values.items()}}
    arm["sentence"] = statistics.sentence(arm["name"], ref["name"], diff)

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
    grouped: dict[int, list[tuple[Run, dict[str, Any]]]] = {}
    for i, run in enumerate(runs):
        grouped.setdefault(arm_index(run, i), []).append((run, _arm(run, by_run[run.id])))
    groups = [sorted(grouped[k], key=lambda x: (x[0].seed or 0, x[0].id)) for k in sorted(grouped)]
    ref_run = reference_arm([g[0][0] for g in groups], sweep["param"] if sweep else None)
    arms = [_over_repeats(g) for g in groups]
    base = next((a for a in arms if ref_run is not None and a["run_id"] == ref_run.id), None)
    for arm, group in zip(arms, groups, strict=True):
        arm["vs_reference"] = {
            k: arm[k] - base[k] if base and arm[k] is not None and base[k] is not None else None
            for k in FIGURES
        }
        if base is not None:
            _against(arm, base, group, groups[arms.index(base)])
    return {
        "reference": ref_run.id if ref_run else None,
        "repeats": int(exp.config.get("repeats", 1)),
        "arms": arms,
        "best": _best(arms),
        "one_se": _one_se(sweep["param"], groups) if sweep else None,
    }


def _one_se(param: str, groups) -> dict[str, Any] | None:
    """A sweep's best value by mean final validation accuracy over seeds, and the largest value
    within one standard error of it (app.statistics); None until a point has a value. One-SE
    keys are the swept values; JSON gives them as strings."""
    path = {sweep_value(g[0][0].config, param): per_seed(g, INTERVALS[0]) for g in groups}
    try:
        rule = statistics.one_standard_error(path).to_dict()
    except ValueError:  # no point has a value yet
        return None
    rule["means"] = [[lam, mean] for lam, mean in rule["means"].items()]
    return rule


def _best(arms: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per figure, the arm that does best by it (FIGURES says which way is best)."""
    best: dict[str, int | None] = {}
    for key, way in FIGURES.items():
        scored = [a for a in arms if a[key] is not None]
        pick = max if way == "max" else min
        best[key] = pick(scored, key=lambda a: a[key])["run_id"] if scored else None
    return best
