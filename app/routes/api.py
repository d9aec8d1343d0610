"""The JSON API. Users script against it: fields may be added, never renamed."""

import unicodedata
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from app import fleet, summary, views
from app.deps import (
    EngineDep,
    ExperimentId,
    LiveDep,
    RunId,
    SessionDep,
    SettingsDep,
    found,
    not_found,
)
from app.downloads import attachment, csv_response
from app.limits import over_budget
from app.schemas import (
    DATASETS,
    CancelPublic,
    CompareCurvesPublic,
    CompareHistogramsPublic,
    ComparePublic,
    CurvesPublic,
    ExperimentHistogramsPublic,
    ExperimentIn,
    ExperimentPatch,
    ExperimentPublic,
    HistogramsPublic,
    MetricsPublic,
    PathPublic,
    RunPublic,
    RunStatusName,
    SummaryPublic,
)
from app.views import ListFilter, get_experiment, list_experiments, runs_public
from store import artifacts, feed, queue
from store.engine import read_session
from store.models import Run

router = APIRouter(prefix="/api", tags=["api"])


def launch(engine, body: ExperimentIn) -> int:
    """Store the experiment and queue one run per arm (one transaction). Shared with the form."""
    arms = [(r.name, r.arm_config()) for r in body.runs]
    return queue.create_experiment(engine, body.display_name(), body.shared_config(), arms).id


@router.post(
    "/experiments",
    status_code=201,
    response_model=ExperimentPublic,
    responses={422: {"description": "Invalid input, or more work than REGLAB_MAX_WORK"}},
)
def create_experiment(
    body: ExperimentIn, engine: EngineDep, session: SessionDep, settings: SettingsDep
):
    if too_big := over_budget(body, settings.max_work):
        raise HTTPException(
            422, detail=[{"loc": ["body"], "msg": too_big, "type": "too_much_work"}]
        )
    return get_experiment(session, launch(engine, body))


@router.get("/health")
def health(session: SessionDep, live: LiveDep) -> dict:
    """The database answers, and how many live streams are open."""
    feed.last_change_id(session)
    return {"status": "ok", "streams": live.stream_count}


@router.get("/workers", response_model=fleet.WorkersPublic)
def workers(session: SessionDep, settings: SettingsDep):
    """The live workers (their device, what each trains, their last heartbeat), the `reglab up`
    processes that restart them, and a warning when arms wait and no worker is alive."""
    return fleet.snapshot(session, settings)


def bad_query(name: str, msg: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["query", name], "msg": msg, "type": "value_error"}])


def query_text(name: str, value: str | None) -> str | None:
    """A search text: refused in plain words when it holds control characters (PostgreSQL
    refuses a NUL in any text), None when blank."""
    if value is None or not value.strip():
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise bad_query(name, f"{name} cannot contain control characters such as tabs or NUL")
    return value.strip()


SearchText = Annotated[str | None, Query(max_length=100)]


@router.get(
    "/experiments",
    response_model=list[ExperimentPublic],
    responses={200: {"headers": {"X-Total-Count": {"description": "How many match in all"}}}},
)
def experiments(
    response: Response,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    q: Annotated[SearchText, Query(description="In the name, the notes or a tag")] = None,
    tag: Annotated[SearchText, Query(description="Exactly this tag (any case)")] = None,
    status: RunStatusName | None = None,
    dataset: Annotated[Literal[tuple(DATASETS)] | None, Query()] = None,  # type: ignore[valid-type]
):
    """Newest first; those that match every filter given. X-Total-Count says how many match."""
    where = ListFilter(
        q=query_text("q", q), tag=query_text("tag", tag), status=status, dataset=dataset
    )
    response.headers["X-Total-Count"] = str(views.count_experiments(session, where))
    return list_experiments(session, limit, offset, where)


@router.patch(
    "/experiments/{experiment_id}",
    response_model=ExperimentPublic,
    responses={404: {"description": "No such experiment"}},
)
def annotate_experiment(experiment_id: ExperimentId, body: ExperimentPatch, engine: EngineDep):
    """Rename it, or replace its notes or tags; fields left out stay as they are."""
    tags = views.tags_stored(body.tags) if body.tags is not None else None
    if not queue.annotate(engine, experiment_id, name=body.name, notes=body.notes, tags=tags):
        raise not_found("experiment", experiment_id)
    with read_session(engine) as fresh:
        return get_experiment(fresh, experiment_id)


@router.delete(
    "/experiments/{experiment_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "No such experiment"}},
)
def delete_experiment(experiment_id: ExperimentId, engine: EngineDep, settings: SettingsDep):
    """The experiment and all of it: arms, metrics, histograms, checkpoints (files or database
    rows) and resume states. Running arms stop: their worker's next write for them fails, and it
    takes the next run. Afterwards the experiment and its runs answer 404."""
    deleted = queue.delete_experiment(engine, experiment_id)
    if deleted is None:
        raise not_found("experiment", experiment_id)
    artifacts.remove_files(settings.checkpoints, deleted.files, deleted.run_ids)
    return Response(status_code=204)


@router.post(
    "/experiments/{experiment_id}/clone",
    status_code=201,
    response_model=ExperimentPublic,
    responses={
        404: {"description": "No such experiment"},
        422: {"description": "More work than REGLAB_MAX_WORK allows now"},
    },
)
def clone_experiment(experiment_id: ExperimentId, engine: EngineDep, settings: SettingsDep):
    """Run it again: a new queued experiment with the same settings, arms (or sweep) and name."""
    with read_session(engine) as s:
        found = views.experiment_input(s, experiment_id)
    if found is None:
        raise not_found("experiment", experiment_id)
    body, name = found
    if too_big := over_budget(body, settings.max_work):
        raise HTTPException(
            422,
            detail=[{"loc": ["path", "experiment_id"], "msg": too_big, "type": "too_much_work"}],
        )
    arms = [(r.name, r.arm_config()) for r in body.runs]
    new_id = queue.create_experiment(engine, name, body.shared_config(), arms).id
    with read_session(engine) as s:
        return get_experiment(s, new_id)


@router.get(
    "/experiments/{experiment_id}/metrics.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {}},
)
def experiment_metrics_csv(experiment_id: ExperimentId, session: SessionDep):
    """Every arm's every epoch: one row per run and epoch, a column per metric and per layer
    statistic (`linear_1.weight.mean_abs`...)."""
    table = views.metrics_table(session, experiment_id)
    if table is None:
        raise not_found("experiment", experiment_id)
    head, rows = table
    return csv_response(f"reglab-experiment{experiment_id}-metrics.csv", head, rows)


MAX_COMPARE = 16
RunIds = Annotated[
    str,
    Query(
        max_length=300,
        description=f"Run ids separated by commas, e.g. 1,2,3 (at most {MAX_COMPARE})",
    ),
]


def run_ids(runs: str) -> list[int]:
    """`1,2,3` -> [1, 2, 3] (repeats dropped), or a 422 that says what to send."""
    parts = [p.strip() for p in runs.split(",") if p.strip()]
    if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
        raise bad_query("runs", "give run ids (whole numbers) separated by commas, e.g. 1,2,3")
    ids = list(dict.fromkeys(int(p) for p in parts))
    if len(ids) > MAX_COMPARE:
        raise bad_query("runs", f"compare at most {MAX_COMPARE} runs at a time")
    if 0 in ids:
        raise bad_query("runs", "run ids start at 1")
    return ids


@router.get(
    "/compare",
    response_model=ComparePublic,
    responses={
        404: {"description": "A run does not exist"},
        422: {"description": "Bad ids, or runs of different datasets"},
    },
)
def compare(runs: RunIds, session: SessionDep):
    """Runs of any experiments side by side: their settings and which of them differ. Runs
    trained on different datasets are refused (422), their figures do not compare."""
    out = views.compare(session, run_ids(runs))
    if isinstance(out, int):
        raise not_found("run", out)
    if isinstance(out, str):
        raise bad_query("runs", out)
    return out


@router.get("/compare/curves", response_model=CompareCurvesPublic, responses={404: {}})
def compare_curves(runs: RunIds, session: SessionDep):
    """The runs' metrics by column, as /api/experiments/{id}/curves gives an experiment's."""
    ids = run_ids(runs)
    out = views.compare(session, ids)
    if isinstance(out, int):
        raise not_found("run", out)
    return views.compare_curves(session, ids)


@router.get("/compare/histograms", response_model=CompareHistogramsPublic, responses={404: {}})
def compare_histograms(
    runs: RunIds,
    session: SessionDep,
    epoch: Annotated[
        int | None, Query(ge=1, le=10**6, description="Default: each run's latest")
    ] = None,
):
    """The runs' weight histograms at one epoch, each on its own experiment's bins."""
    ids = run_ids(runs)
    out = views.compare(session, ids)
    if isinstance(out, int):
        raise not_found("run", out)
    return views.compare_histograms(session, ids, epoch)


@router.get("/experiments/{experiment_id}", response_model=ExperimentPublic)
def experiment(experiment_id: ExperimentId, session: SessionDep):
    exp = get_experiment(session, experiment_id)
    if exp is None:
        raise not_found("experiment", experiment_id)
    return exp


@router.get("/experiments/{experiment_id}/path", response_model=PathPublic)
def experiment_path(experiment_id: ExperimentId, session: SessionDep):
    """The regularization path: one point per arm (its swept value, latest measurements)."""
    return found(views.experiment_path(session, experiment_id), "experiment", experiment_id)


@router.get(
    "/experiments/{experiment_id}/path.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {}},
)
def experiment_path_csv(experiment_id: ExperimentId, session: SessionDep):
    """The path as a table: one row per arm."""
    path = views.experiment_path(session, experiment_id)
    if path is None:
        raise not_found("experiment", experiment_id)
    name = f"reglab-experiment{experiment_id}-path.csv"
    layers = sorted({name for p in path["points"] for name in p.get("layers", {})})
    head = ["run_id", "arm", path["param"] or "value", "status", "epoch", *views.PATH_METRICS]
    head += [f"{layer}.{k}" for layer in layers for k in views.PATH_LAYER_STATS]
    rows = [
        [p["run_id"], p["name"], p["value"], p["status"], p["epoch"]]
        + [p.get(k) for k in views.PATH_METRICS]
        + [
            p.get("layers", {}).get(layer, {}).get(k)
            for layer in layers
            for k in views.PATH_LAYER_STATS
        ]
        for p in path["points"]
    ]
    return csv_response(name, head, rows)  # arm names like `=1+1` arrive as text, not formulas


@router.get("/experiments/{experiment_id}/curves", response_model=CurvesPublic)
def experiment_curves(experiment_id: ExperimentId, session: SessionDep):
    """Every arm's metrics by column, compact: what the experiment page charts. The same values
    as /api/runs/{id}/metrics."""
    return found(views.experiment_curves(session, experiment_id), "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/summary", response_model=SummaryPublic)
def experiment_summary(experiment_id: ExperimentId, session: SessionDep):
    """The verdict table: per arm its final and best validation accuracy, final gap, the first
    weight matrix's mean |w| and near-zero fraction, and each less the reference arm's."""
    return found(summary.experiment_summary(session, experiment_id), "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/histograms", response_model=ExperimentHistogramsPublic)
def experiment_histograms(
    experiment_id: ExperimentId,
    session: SessionDep,
    epoch: Annotated[
        int | None, Query(ge=1, le=10**6, description="Default: each arm's latest")
    ] = None,
):
    """Every arm's weight histograms at one epoch, on the experiment's shared bins."""
    hist = views.experiment_histograms(session, experiment_id, epoch)
    return found(hist, "experiment", experiment_id)


@router.post("/experiments/{experiment_id}/cancel", response_model=CancelPublic)
def cancel_experiment(experiment_id: ExperimentId, engine: EngineDep, session: SessionDep):
    """Queued arms are cancelled at once; running arms stop within a second."""
    if get_experiment(session, experiment_id) is None:
        raise not_found("experiment", experiment_id)
    counts = queue.request_cancel(engine, experiment_id)
    with read_session(engine) as fresh:  # the request's session still reads its old snapshot
        return CancelPublic(**counts, experiment=get_experiment(fresh, experiment_id))


def _run(session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise not_found("run", run_id)
    return run


@router.get("/runs/{run_id}", response_model=RunPublic)
def run(run_id: RunId, session: SessionDep):
    return runs_public(session, [_run(session, run_id)])[0]


@router.get("/runs/{run_id}/metrics", response_model=MetricsPublic)
def run_metrics(run_id: RunId, session: SessionDep):
    _run(session, run_id)
    return {"run_id": run_id, "epochs": feed.run_metrics(session, run_id)}


@router.get("/runs/{run_id}/histograms", response_model=HistogramsPublic)
def run_histograms(
    run_id: RunId,
    session: SessionDep,
    epoch: Annotated[int | None, Query(ge=1, le=10**6, description="Default: the latest")] = None,
):
    hist = feed.run_histograms(session, _run(session, run_id), epoch)
    if epoch is not None and not hist["layers"]:
        raise not_found(f"epoch {epoch} of run", run_id)
    return {"run_id": run_id, **hist}


@router.get(
    "/runs/{run_id}/checkpoint",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {}},
)
def checkpoint(
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    format: Literal["pt", "safetensors"] = "pt",
):
    """The final checkpoint: `.pt` (a plain dict; loads with `torch.load(weights_only=True)`) or
    `.safetensors` (tensors only, config in the metadata)."""
    run = _run(session, run_id)
    ckpt = artifacts.find(session, run.id, format)
    if ckpt is None:
        raise not_found("checkpoint of run", run_id)
    slug = "".join(ch if ch.isalnum() else "-" for ch in run.name.lower()).strip("-") or "arm"
    filename = f"reglab-run{run.id}-{slug}.{format}"
    if ckpt.storage == "db":
        data = artifacts.blob(session, ckpt)
        if data is None:
            raise not_found("checkpoint data of run", run_id)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": attachment(filename)},
        )
    # The name comes from our own table, never from the request; still, serve only inside root.
    path = artifacts.file_path(settings.checkpoints, ckpt)
    if path is None:
        raise not_found("checkpoint file of run", run_id)
    # The same header as from the database (FileResponse's own would lack the ASCII fallback).
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"Content-Disposition": attachment(filename)},
    )
