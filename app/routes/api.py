"""The JSON API. Users script against it: fields may be added, never renamed.

Routes parse, call a service (app.experiments, app.views, app.summary, app.fleet,
app.downloads) and answer; they hold no queries of their own."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from app import downloads, fleet, presets, summary, views
from app import experiments as service
from app.deps import (
    EngineDep,
    ExperimentId,
    LiveDep,
    RunDep,
    RunIdsDep,
    SearchText,
    SessionDep,
    SettingsDep,
    bad_query,
    epoch_query,
    found,
    not_found,
    query_text,
)
from app.schemas import (
    DATASETS,
    AnySummaryPublic,
    CancelPublic,
    CompareCurvesPublic,
    CompareHistogramsPublic,
    ComparePublic,
    CurvesPublic,
    DistributionsPublic,
    ExperimentHistogramsPublic,
    ExperimentIn,
    ExperimentPatch,
    ExperimentPublic,
    HistogramsPublic,
    MetricsPublic,
    PathPublic,
    RunPublic,
    RunStatusName,
    WeightsPublic,
)
from store import reads

router = APIRouter(prefix="/api", tags=["api"])


def too_much_work(loc: list[str], e: service.TooMuchWork) -> HTTPException:
    return HTTPException(422, detail=[{"loc": loc, "msg": str(e), "type": "too_much_work"}])


@router.post(
    "/experiments",
    status_code=201,
    response_model=ExperimentPublic,
    responses={422: {"description": "Invalid input, or more work than REGLAB_MAX_WORK"}},
)
def create_experiment(body: ExperimentIn, engine: EngineDep, settings: SettingsDep):
    try:
        experiment_id = service.launch(engine, body, settings.max_work)
    except service.TooMuchWork as e:
        raise too_much_work(["body"], e) from None
    return service.fresh(engine, experiment_id)


@router.get("/health")
def health(session: SessionDep, live: LiveDep) -> dict:
    """The database answers, and how many live streams are open."""
    reads.last_change_id(session)
    return {"status": "ok", "streams": live.stream_count}


@router.get("/workers", response_model=fleet.WorkersPublic)
def workers(session: SessionDep, settings: SettingsDep):
    """The live workers (their device, what each trains, their last heartbeat), the `reglab up`
    processes that restart them, and a warning when arms wait and no worker is alive."""
    return fleet.snapshot(session, settings)


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
    where = reads.ListFilter(
        q=query_text("q", q), tag=query_text("tag", tag), status=status, dataset=dataset
    )
    response.headers["X-Total-Count"] = str(reads.count_experiments(session, where))
    return views.list_experiments(session, limit, offset, where)


@router.patch(
    "/experiments/{experiment_id}",
    response_model=ExperimentPublic,
    responses={404: {"description": "No such experiment"}},
)
def annotate_experiment(experiment_id: ExperimentId, body: ExperimentPatch, engine: EngineDep):
    """Rename it, or replace its notes or tags; fields left out stay as they are."""
    return found(service.annotate(engine, experiment_id, body), "experiment", experiment_id)


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
    if not service.delete(engine, settings, experiment_id):
        raise not_found("experiment", experiment_id)
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
    try:
        new_id = service.relaunch(engine, experiment_id, settings.max_work)
    except service.TooMuchWork as e:
        raise too_much_work(["path", "experiment_id"], e) from None
    return service.fresh(engine, found(new_id, "experiment", experiment_id))


@router.get(
    "/experiments/{experiment_id}/metrics.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {}},
)
def experiment_metrics_csv(experiment_id: ExperimentId, session: SessionDep):
    """Every arm's every epoch: one row per run and epoch, a column per metric and per layer
    statistic (`linear_1.weight.mean_abs`...)."""
    csv = downloads.metrics_csv(session, experiment_id)
    return found(csv, "experiment", experiment_id)


@router.get(
    "/compare",
    response_model=ComparePublic,
    responses={
        404: {"description": "A run does not exist"},
        422: {"description": "Bad ids, or runs of different datasets"},
    },
)
def compare(ids: RunIdsDep, session: SessionDep):
    """Runs of any experiments side by side: their settings and which of them differ. Runs
    trained on different datasets are refused (422), their figures do not compare."""
    out = views.compare(session, ids)
    if isinstance(out, int):  # deleted since compared_runs looked
        raise not_found("run", out)
    if isinstance(out, str):
        raise bad_query("runs", out)
    return out


@router.get("/compare/curves", response_model=CompareCurvesPublic, responses={404: {}})
def compare_curves(ids: RunIdsDep, session: SessionDep):
    """The runs' metrics by column, as /api/experiments/{id}/curves gives an experiment's."""
    return views.compare_curves(session, ids)


@router.get("/compare/histograms", response_model=CompareHistogramsPublic, responses={404: {}})
def compare_histograms(
    ids: RunIdsDep,
    session: SessionDep,
    epoch: epoch_query("each run's latest") = None,
):
    """The runs' weight histograms at one epoch, each on its own experiment's bins."""
    return views.compare_histograms(session, ids, epoch)


@router.get("/experiments/{experiment_id}", response_model=ExperimentPublic)
def experiment(experiment_id: ExperimentId, session: SessionDep):
    return found(views.get_experiment(session, experiment_id), "experiment", experiment_id)


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
    return found(downloads.path_csv(session, experiment_id), "experiment", experiment_id)


@router.get(
    "/experiments/{experiment_id}/summary.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {}},
)
def experiment_summary_csv(experiment_id: ExperimentId, session: SessionDep):
    """The summary as a table: one row per arm, means and 95 % intervals over seeds, the paired
    difference from the reference arm and its sentence."""
    return found(downloads.summary_csv(session, experiment_id), "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/curves", response_model=CurvesPublic)
def experiment_curves(experiment_id: ExperimentId, session: SessionDep):
    """Every arm's metrics by column, compact: what the experiment page charts. The same values
    as /api/runs/{id}/metrics."""
    return found(views.experiment_curves(session, experiment_id), "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/summary", response_model=AnySummaryPublic)
def experiment_summary(experiment_id: ExperimentId, session: SessionDep):
    """The verdict table: per arm its final and best validation accuracy, final gap, the first
    weight matrix's mean |w| and near-zero fraction, and each less the reference arm's."""
    return found(summary.experiment_summary(session, experiment_id), "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/histograms", response_model=ExperimentHistogramsPublic)
def experiment_histograms(
    experiment_id: ExperimentId,
    session: SessionDep,
    epoch: epoch_query("each arm's latest") = None,
):
    """Every arm's weight histograms at one epoch, on the experiment's shared bins."""
    hist = views.experiment_histograms(session, experiment_id, epoch)
    return found(hist, "experiment", experiment_id)


@router.get("/experiments/{experiment_id}/distributions", response_model=DistributionsPublic)
def experiment_distributions(
    experiment_id: ExperimentId,
    session: SessionDep,
    layer: Annotated[str | None, Query(max_length=200, description="Default: the first")] = None,
):
    """Every arm's percentiles of one weight matrix at each epoch, from its histograms."""
    dist = views.experiment_distributions(session, experiment_id, layer)
    return found(dist, "experiment", experiment_id)


@router.post("/experiments/{experiment_id}/cancel", response_model=CancelPublic)
def cancel_experiment(experiment_id: ExperimentId, engine: EngineDep):
    """Queued arms are cancelled at once; running arms stop within a second."""
    counts, exp = found(service.cancel(engine, experiment_id), "experiment", experiment_id)
    return CancelPublic(**counts, experiment=exp)


@router.get("/runs/{run_id}", response_model=RunPublic)
def run(run: RunDep, session: SessionDep):
    return views.runs_public(session, [run])[0]


@router.get("/runs/{run_id}/metrics", response_model=MetricsPublic)
def run_metrics(run: RunDep, session: SessionDep):
    return {"run_id": run.id, "epochs": reads.run_metrics(session, run.id)}


@router.get("/runs/{run_id}/histograms", response_model=HistogramsPublic)
def run_histograms(
    run: RunDep,
    session: SessionDep,
    epoch: epoch_query("the latest") = None,
):
    hist = reads.run_histograms(session, run, epoch)
    if epoch is not None and not hist["layers"]:
        raise not_found(f"epoch {epoch} of run", run.id)
    return {"run_id": run.id, **hist}


@router.get("/runs/{run_id}/weights", response_model=WeightsPublic)
def run_weights(run: RunDep, session: SessionDep, epoch: epoch_query("the latest") = None):
    """The first layer's weight images at one epoch: some units' incoming weights (tiles) and
    the input-importance map. 404 for a run without them (not an image model, or no epoch yet)
    or an epoch it has not reached."""
    images = reads.run_weight_images(session, run.id, epoch)
    if images is not None:
        return {"run_id": run.id, **images}
    if epoch is not None and reads.has_weight_images(session, run.id):
        raise HTTPException(404, f"run {run.id} has no weight images at epoch {epoch} (yet)")
    raise HTTPException(
        404,
        f"run {run.id} has no weight images: none recorded yet, or its model does not read "
        "images through one first layer",
    )


@router.get(
    "/runs/{run_id}/checkpoint",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {}},
)
def checkpoint(
    run: RunDep,
    session: SessionDep,
    settings: SettingsDep,
    format: Literal["pt", "safetensors"] = "pt",
):
    """The final checkpoint: `.pt` (a plain dict; loads with `torch.load(weights_only=True)`) or
    `.safetensors` (tensors only, config in the metadata)."""
    out = downloads.checkpoint(session, settings.checkpoints, run, format)
    if isinstance(out, str):
        raise not_found(out, run.id)
    return out


@router.get("/presets")
def presets_list() -> dict:
    """Every preset of the form as `{key: {"label", "experiment": <the POST body>}}`: POST the
    body to /api/experiments to launch exactly what the form's button launches."""
    return presets.presets_public()


@router.get("/runs/{run_id}/function", responses={404: {}})
def run_function(
    run: RunDep,
    session: SessionDep,
    epoch: epoch_query("the latest") = None,
):
    """A toy task's arm as the page draws it, at the latest stored epoch <= `epoch`: poly1d
    `{"x", "y"}` (the fitted curve); moons, circles, spiral `{"grid": {"x0", "x1"}, "prob"}`
    (class-1 probability, prob[i][j] at (x0[j], x1[i])); sparse_linear `{"coef", "true_coef",
    "precision", "recall", "threshold"}`. With `epoch` (the one shown), `epochs` (all stored)
    and `points` (training and held-out data; none for sparse_linear)."""
    view = reads.function_view(session, run.id, epoch)
    if view is None:
        raise not_found("no function view (yet) for run", run.id)
    return {"run_id": run.id, **view}
