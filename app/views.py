"""Read models: what the API, the pages and the live stream show of experiments and runs."""

from collections import defaultdict
from typing import Any

from sqlmodel import Session

from app.schemas import (
    DATASETS,
    SWEEP_PARAMS,
    BestArm,
    ExperimentIn,
    ExperimentPublic,
    RunIn,
    RunPublic,
)
from store import reads
from store.models import Experiment, Run, RunStatus
from store.reads import ListFilter
from store.spec import CLASSIFICATION, TASK


def task_kind(config: dict[str, Any]) -> str:
    """ "regression" (MSE, R²: no accuracy anywhere) or "classification" (every image dataset)."""
    task = TASK.get(config.get("dataset", ""))
    return task.kind if task else CLASSIFICATION


def overall_status(statuses: list[str]) -> str:
    """One word for an experiment: the most active state any of its arms is in."""
    for s in ("running", "queued", "failed", "cancelled"):
        if s in statuses:
            return s
    return "succeeded"


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
    ids = [r.id for r in runs]
    with_ckpt, mean_time = reads.checkpointed(session, ids), reads.mean_epoch_times(session, ids)
    swept = _swept(session, {r.experiment_id for r in runs})
    return [
        run_public(r, r.id in with_ckpt, mean_time.get(r.id), swept.get(r.experiment_id))
        for r in runs
    ]


def _swept(session: Session, experiment_ids: set[int]) -> dict[int, str]:
    exps = reads.experiments(session, experiment_ids).values()
    return {e.id: e.config["sweep"]["param"] for e in exps if e.config.get("sweep")}


def tags_list(stored: str) -> list[str]:
    """Experiment.tags (",a,b,") as a list."""
    return [t for t in stored.split(",") if t]


def tags_stored(tags: list[str]) -> str:
    return f",{','.join(tags)}," if tags else ""


def _best(runs: list[RunPublic], latest: dict[int, tuple[int, float, float]]) -> BestArm | None:
    """The arm with the best validation accuracy at its latest epoch (ties: the lower loss), as
    the path's best arm."""
    # Regression tasks have no accuracy: no best arm by it.
    scored = [(latest[r.id], r) for r in runs if r.id in latest and latest[r.id][1] is not None]
    if not scored:
        return None
    (epoch, acc, _), run = max(scored, key=lambda x: (x[0][1], -x[0][2]))
    return BestArm(run_id=run.id, name=run.name, val_acc=acc, epoch=epoch)


def _experiment_public(
    exp: Experiment, runs: list[RunPublic], latest: dict[int, tuple[int, float, float]]
) -> ExperimentPublic:
    return ExperimentPublic(
        id=exp.id,
        name=exp.name,
        created_at=exp.created_at,
        config=exp.config,
        status=overall_status([r.status for r in runs]),
        sweep=exp.config.get("sweep"),
        runs=runs,
        notes=exp.notes,
        tags=tags_list(exp.tags),
        best=_best(runs, latest),
    )


def get_experiment(session: Session, experiment_id: int) -> ExperimentPublic | None:
    arms = reads.experiment_arms(session, experiment_id)
    if arms is None:
        return None
    exp, runs = arms
    latest = reads.latest_epochs(session, [r.id for r in runs])
    return _experiment_public(exp, runs_public(session, runs), latest)


def list_experiments(
    session: Session, limit: int = 50, offset: int = 0, where: ListFilter = reads.NO_FILTER
) -> list[ExperimentPublic]:
    """Newest first, those that match."""
    exps = reads.list_experiments(session, limit, offset, where)
    if not exps:
        return []
    runs = reads.experiment_runs(session, [e.id for e in exps])
    latest = reads.latest_epochs(session, [r.id for r in runs])
    by_exp: dict[int, list[RunPublic]] = defaultdict(list)
    for r in runs_public(session, runs):
        by_exp[r.experiment_id].append(r)
    return [_experiment_public(e, by_exp[e.id], latest) for e in exps]


PATH_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "gap", "train_r2", "val_r2")
PATH_LAYER_STATS = ("mean_abs", "zero_frac", "near_zero_frac")


def experiment_path(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """One point per arm: its swept value and latest (or final) measurements; the best arm."""
    exp = get_experiment(session, experiment_id)
    if exp is None:
        return None
    points = []
    for run in exp.runs:
        last = reads.last_metric(session, run.id)
        point: dict[str, Any] = {
            "run_id": run.id,
            "name": run.name,
            "value": run.sweep_value,
            "status": run.status,
            "epoch": last.epoch if last else 0,
            "checkpoint_url": run.checkpoint_url,
        }
        if last is not None:
            m = reads.metric_dict(last)
            point.update({k: m[k] for k in PATH_METRICS})
            point["layers"] = {
                name: {k: stats[k] for k in PATH_LAYER_STATS}
                for name, stats in last.layers.items()
                if name.endswith(".weight") and not name.startswith("bn_")
            }
        points.append(point)
    scored = [p for p in points if p["epoch"] and p.get("val_acc") is not None]
    best = max(scored, key=lambda p: (p["val_acc"], -p["val_loss"]), default=None)
    return {
        "experiment_id": exp.id,
        "param": exp.sweep["param"] if exp.sweep else None,
        "points": points,
        "best_run_id": best["run_id"] if best else None,
    }


def experiment_snapshot(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """What the experiment page needs before it fetches its curves and starts streaming: the arms
    and the cursor to stream from. Its size does not grow with epochs or layers."""
    cursor = reads.last_change_id(session)  # read first: anything newer arrives by the stream
    exp = get_experiment(session, experiment_id)
    if exp is None:
        return None
    data = {
        "experiment_id": exp.id,
        "cursor": cursor,
        "sweep": exp.sweep,
        "sweep_label": SWEEP_PARAMS[exp.sweep["param"]] if exp.sweep else None,
        "runs": [{"id": r.id, "name": r.name, "value": r.sweep_value} for r in exp.runs],
        "task_kind": task_kind(exp.config),
    }
    return {"experiment": exp, "data": data}


def experiment_curves(session: Session, experiment_id: int) -> dict[str, Any] | None:
    """Every arm's metrics by column (store.reads.curves): what the page's charts draw."""
    if reads.experiment(session, experiment_id) is None:
        return None
    run_ids = reads.experiment_run_ids(session, experiment_id)
    return {"experiment_id": experiment_id, **compare_curves(session, run_ids)}


def experiment_histograms(
    session: Session, experiment_id: int, epoch: int | None = None
) -> dict[str, Any] | None:
    """Every arm's histograms at `epoch` (default: each arm's latest); an arm without that epoch
    is listed with `epoch: null` and no layers, never shown at another epoch."""
    if reads.experiment(session, experiment_id) is None:
        return None
    run_ids = reads.experiment_run_ids(session, experiment_id)
    return {"experiment_id": experiment_id, **compare_histograms(session, run_ids, epoch)}


def experiment_input(session: Session, experiment_id: int) -> tuple[ExperimentIn, str] | None:
    """A stored experiment as the input that made it (its arms, or its sweep), and its name: what
    "Run again" launches and "Edit as new" fills the form with. None if there is none."""
    arms = reads.experiment_arms(session, experiment_id)
    if arms is None:
        return None
    exp, runs = arms
    fields: dict[str, Any] = {
        k: v for k, v in exp.config.items() if k in ExperimentIn.model_fields and k != "sweep"
    }
    if exp.config.get("sweep"):
        fields["sweep"] = exp.config["sweep"]
    else:
        fields["runs"] = [
            {"name": r.name, **{k: v for k, v in r.config.items() if k in RunIn.model_fields}}
            for r in runs
        ]
    body = ExperimentIn.model_validate(fields)
    # A name the user gave is kept; one made from the settings is made again from the new ones.
    if exp.name != body.display_name() and len(exp.name) <= 80:
        body.name = exp.name
    return body, exp.name


# Settings the config diff leaves out: the sweep's grid made the arms, whose own values differ.
NOT_COMPARED = {"sweep", "arm"}


def compare(session: Session, run_ids: list[int]) -> dict[str, Any] | int | str:
    """Runs of any experiments side by side: each with its settings (the experiment's with the
    arm's over them), the settings that differ and those shared. A missing run's id (int), or a
    message (str) when the runs cannot be compared (different datasets)."""
    runs = reads.runs(session, run_ids)
    for rid in run_ids:
        if rid not in runs:
            return rid
    exps = reads.experiments(session, {r.experiment_id for r in runs.values()})
    datasets = {exps[r.experiment_id].config.get("dataset") for r in runs.values()}
    if len(datasets) > 1:
        names = ", ".join(sorted(DATASETS.get(d, str(d)) for d in datasets))
        return (
            f"These arms were trained on different datasets ({names}); their accuracies and "
            "losses do not compare. Choose arms trained on one dataset."
        )
    out = []
    for rid in run_ids:
        run = runs[rid]
        exp = exps[run.experiment_id]
        config = {k: v for k, v in {**exp.config, **run.config}.items() if k not in NOT_COMPARED}
        out.append(
            {
                "run_id": rid,
                "experiment_id": exp.id,
                "experiment_name": exp.name,
                "name": run.name,
                "status": run.status,
                "config": config,
            }
        )
    keys = sorted({k for r in out for k in r["config"]})
    differing = [k for k in keys if len({_key(r["config"].get(k)) for r in out}) > 1]
    shared = {k: out[0]["config"].get(k) for k in keys if k not in differing}
    return {"runs": out, "differing": differing, "shared": shared}


def compare_snapshot(session: Session, run_ids: list[int]) -> dict[str, Any] | int | str:
    """What the compare page needs, as experiment_snapshot for an experiment page: the settings
    table (compare's answer) and the charts' data; or compare's missing id or message."""
    out = compare(session, run_ids)
    if isinstance(out, int | str):
        return out
    query = ",".join(map(str, run_ids))
    data = {
        "experiment_id": None,
        "cursor": 0,
        "sweep": None,
        "sweep_label": None,
        "curves_url": f"/api/compare/curves?runs={query}",
        "histograms_url": f"/api/compare/histograms?runs={query}",
        "runs": [
            {"id": r["run_id"], "name": f"#{r['experiment_id']} {r['name']}", "value": None}
            for r in out["runs"]
        ],
    }
    return {"cmp": out, "data": data}


def _key(value: Any) -> str:
    return repr(value)


def compare_curves(session: Session, run_ids: list[int]) -> dict[str, Any]:
    cursor = reads.last_change_id(session)
    by_run = reads.curves(session, run_ids)
    return {"cursor": cursor, "runs": [{"run_id": rid, **by_run[rid]} for rid in run_ids]}


def compare_histograms(
    session: Session, run_ids: list[int], epoch: int | None = None
) -> dict[str, Any]:
    """These runs' histograms at `epoch` (default: each one's latest), in the order given; a run
    without that epoch (or gone) is listed with `epoch: null` and no layers."""
    runs = reads.runs(session, run_ids)
    out = []
    for rid in run_ids:
        hist = reads.run_histograms(session, runs[rid], epoch) if rid in runs else {}
        if not hist.get("layers"):
            hist = {"epoch": None, "layers": {}}
        out.append({"run_id": rid, **hist})
    return {"runs": out}
