"""Read models: what the API, the pages and the live stream show of experiments and runs."""

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.db import feed
from app.db.engine import read_session
from app.db.models import Checkpoint, EpochMetric, Experiment, Run, RunStatus
from app.schemas import SWEEP_PARAMS, ExperimentPublic, RunPublic


def overall_status(statuses: list[str]) -> str:
    """One word for an experiment: the most active state any of its arms is in."""
    for s in ("running", "queued", "failed", "cancelled"):
        if s in statuses:
            return s
    return "succeeded"


def _run_extras(session: Session, run_ids: list[int]) -> tuple[set[int], dict[int, float]]:
    if not run_ids:
        return set(), {}
    with_ckpt = set(
        session.exec(
            select(Checkpoint.run_id).where(
                col(Checkpoint.run_id).in_(run_ids),
                Checkpoint.kind == "final",
                Checkpoint.format == "pt",
            )
        ).all()
    )
    mean_time = dict(
        session.exec(
            select(EpochMetric.run_id, func.avg(EpochMetric.epoch_time))
            .where(col(EpochMetric.run_id).in_(run_ids))
            .group_by(EpochMetric.run_id)
        ).all()
    )
    return with_ckpt, mean_time


def sweep_value(config: dict[str, Any], param: str | None) -> float | None:
    """An arm's value of the swept parameter (for the per-layer mix: its layer-1 L1 lambda)."""
    if param is None:
        return None
    if param == "mix":
        layers = config.get("l1_layers") or [0.0]
        return layers[0]
    return config.get(param, 0.0)


def run_public(
    run: Run, has_checkpoint: bool, mean_epoch_time: float | None, swept: str | None = None
) -> RunPublic:
    eta = None
    if run.status == RunStatus.running and mean_epoch_time is not None:
        eta = mean_epoch_time * max(run.epochs_total - run.epochs_done, 0)
    return RunPublic(
        **run.model_dump(exclude={"claim_token", "cancel_requested", "hist_bases"}),
        eta_seconds=eta,
        sweep_value=sweep_value(run.config, swept),
        checkpoint_url=f"/api/runs/{run.id}/checkpoint" if has_checkpoint else None,
    )


def runs_public(session: Session, runs: list[Run]) -> list[RunPublic]:
    with_ckpt, mean_time = _run_extras(session, [r.id for r in runs])
    swept = _swept(session, {r.experiment_id for r in runs})
    return [
        run_public(r, r.id in with_ckpt, mean_time.get(r.id), swept.get(r.experiment_id))
        for r in runs
    ]


def _swept(session: Session, experiment_ids: set[int]) -> dict[int, str]:
    exps = session.exec(select(Experiment).where(col(Experiment.id).in_(experiment_ids))).all()
    return {e.id: e.config["sweep"]["param"] for e in exps if e.config.get("sweep")}


def _experiment_public(exp: Experiment, runs: list[RunPublic]) -> ExperimentPublic:
    return ExperimentPublic(
        id=exp.id,
        name=exp.name,
        created_at=exp.created_at,
        config=exp.config,
        status=overall_status([r.status for r in runs]),
        sweep=exp.config.get("sweep"),
        runs=runs,
    )


def get_experiment(session: Session, experiment_id: int) -> ExperimentPublic | None:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        return None
    runs = session.exec(select(Run).where(Run.experiment_id == exp.id).order_by(Run.id)).all()
    return _experiment_public(exp, runs_public(session, list(runs)))


def list_experiments(session: Session, limit: int = 50, offset: int = 0) -> list[ExperimentPublic]:
    """Newest first."""
    exps = session.exec(
        select(Experiment).order_by(col(Experiment.id).desc()).offset(offset).limit(limit)
    ).all()
    if not exps:
        return []
    runs = session.exec(
        select(Run).where(col(Run.experiment_id).in_([e.id for e in exps])).order_by(Run.id)
    ).all()
    by_exp: dict[int, list[RunPublic]] = defaultdict(list)
    for r in runs_public(session, list(runs)):
        by_exp[r.experiment_id].append(r)
    return [_experiment_public(e, by_exp[e.id]) for e in exps]


PATH_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "gap")
PATH_LAYER_STATS = ("mean_abs", "zero_frac", "near_zero_frac")


def experiment_path(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """One point per arm: its swept value and latest (or final) measurements; the best arm."""
    exp = get_experiment(session, experiment_id)
    if exp is None:
        return None
    points = []
    for run in exp.runs:
        last = session.exec(
            select(EpochMetric)
            .where(EpochMetric.run_id == run.id)
            .order_by(col(EpochMetric.epoch).desc())
            .limit(1)
        ).first()
        point: dict[str, Any] = {
            "run_id": run.id,
            "name": run.name,
            "value": run.sweep_value,
            "status": run.status,
            "epoch": last.epoch if last else 0,
            "checkpoint_url": run.checkpoint_url,
        }
        if last is not None:
            m = feed.metric_dict(last)
            point.update({k: m[k] for k in PATH_METRICS})
            point["layers"] = {
                name: {k: stats[k] for k in PATH_LAYER_STATS}
                for name, stats in last.layers.items()
                if name.endswith(".weight") and not name.startswith("bn_")
            }
        points.append(point)
    scored = [p for p in points if p["epoch"] and "val_acc" in p]
    best = max(scored, key=lambda p: (p["val_acc"], -p["val_loss"]), default=None)
    return {
        "experiment_id": exp.id,
        "param": exp.sweep["param"] if exp.sweep else None,
        "points": points,
        "best_run_id": best["run_id"] if best else None,
    }


def experiment_exists(engine: Engine, experiment_id: int) -> bool:
    with read_session(engine) as s:
        return s.get(Experiment, experiment_id) is not None


def experiment_snapshot(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """What the experiment page needs before it fetches its curves and starts streaming: the arms
    and the cursor to stream from. Its size does not grow with epochs or layers."""
    cursor = feed.last_change_id(session)  # read first: anything newer arrives by the stream
    exp = get_experiment(session, experiment_id)
    if exp is None:
        return None
    data = {
        "experiment_id": exp.id,
        "cursor": cursor,
        "sweep": exp.sweep,
        "sweep_label": SWEEP_PARAMS[exp.sweep["param"]] if exp.sweep else None,
        "runs": [{"id": r.id, "name": r.name, "value": r.sweep_value} for r in exp.runs],
    }
    return {"experiment": exp, "data": data}


def experiment_curves(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """Every arm's metrics by column (feed.run_curves): what the page's charts draw."""
    if session.get(Experiment, experiment_id) is None:
        return None
    run_ids = session.exec(
        select(Run.id).where(Run.experiment_id == experiment_id).order_by(Run.id)
    ).all()
    cursor = feed.last_change_id(session)
    by_run = feed.curves(session, list(run_ids))
    return {
        "experiment_id": experiment_id,
        "cursor": cursor,
        "runs": [{"run_id": rid, **by_run[rid]} for rid in run_ids],
    }


def experiment_histograms(
    session: Session, experiment_id: int, epoch: int | None = None
) -> dict[str, Any] | None:
    """Every arm's histograms at `epoch` (default: each arm's latest); an arm without that epoch
    is listed with `epoch: null` and no layers, never shown at another epoch."""
    if session.get(Experiment, experiment_id) is None:
        return None
    runs = session.exec(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
    out = []
    for run in runs:
        hist = feed.run_histograms(session, run, epoch)
        if not hist["layers"]:
            hist = {"epoch": None, "layers": {}}
        out.append({"run_id": run.id, **hist})
    return {"experiment_id": experiment_id, "runs": out}
