"""HTML pages and the htmx fragments they swap in. Routes parse, call a service (app.views,
app.experiments, app.fleet) and render; they hold no queries of their own."""

import hmac
from dataclasses import asdict, dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app import experiments as service
from app import fleet, forms
from app.deps import (
    EngineDep,
    ExperimentId,
    SessionDep,
    SettingsDep,
    found,
    query_text,
    run_ids,
)
from app.presets import PRESETS
from app.schemas import DATASETS, ExperimentIn
from app.security import TOKEN_COOKIE, cookie_value
from app.templating import templates
from app.views import compare_snapshot, experiment_input, experiment_snapshot, list_experiments
from store import reads
from store.reads import ListFilter

router = APIRouter(include_in_schema=False)


PAGE_SIZE = 20
StatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@dataclass
class ListView:
    """The home list's filters and page, from the query string (the URL holds the view)."""

    q: str = ""
    tag: str = ""
    status: str = ""
    dataset: str = ""
    page: int = 1

    def where(self) -> ListFilter:
        return ListFilter(
            q=query_text("q", self.q),
            tag=query_text("tag", self.tag),
            status=self.status or None,
            dataset=self.dataset or None,
        )

    def url(self, page: int | None = None) -> str:
        params = {k: v for k, v in asdict(self).items() if v and k != "page"}
        if (page or self.page) > 1:
            params["page"] = page or self.page
        return "/?" + urlencode(params) if params else "/"


def list_view(
    q: Annotated[str, Query(max_length=100)] = "",
    tag: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[StatusName | Literal[""], Query()] = "",
    dataset: Annotated[Literal[tuple(DATASETS)] | Literal[""], Query()] = "",  # type: ignore[valid-type]
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> ListView:
    return ListView(q=q.strip(), tag=tag.strip(), status=status, dataset=dataset, page=page)


ListViewDep = Annotated[ListView, Depends(list_view)]


def list_context(session, view: ListView) -> dict:
    where = view.where()
    total = reads.count_experiments(session, where)
    pages = max(1, -(-total // PAGE_SIZE))
    view.page = min(view.page, pages)
    return {
        "experiments": list_experiments(session, PAGE_SIZE, (view.page - 1) * PAGE_SIZE, where),
        "total": total,
        "pages": pages,
        "view": view,
        "filtered": bool(view.q or view.tag or view.status or view.dataset),
    }


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    session: SessionDep,
    view: ListViewDep,
    from_: Annotated[int | None, Query(alias="from", ge=1, le=2**62)] = None,
):
    """The form (filled from experiment `from` for "Edit as new") and the experiments."""
    body, source = ExperimentIn(), None
    if from_ is not None:
        body, source = found(experiment_input(session, from_), "experiment", from_)[0], from_
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "values": forms.form_values(body),
            "errors": {},
            "source": source,
            "active": reads.anything_active(session),
            **list_context(session, view),
        },
    )


@router.get("/fragments/form", response_class=HTMLResponse)
def form_fragment(request: Request, preset: Annotated[str, Query(max_length=40)] = "tutorial"):
    """The form filled with a preset (the preset buttons swap it in)."""
    if preset not in PRESETS:
        raise HTTPException(status_code=404, detail=f"no preset named {preset!r}")
    return templates.TemplateResponse(
        request, "_form.html", {"values": forms.form_values(PRESETS[preset][1]), "errors": {}}
    )


# htmx stops polling an element whose answer has this status (and swaps the answer as usual).
STOP_POLLING = 286


@router.get("/fragments/experiments", response_class=HTMLResponse)
def experiment_list(request: Request, session: SessionDep, view: ListViewDep):
    """The experiments table. The home page polls it while arms are queued or running; once none
    is, the answer says so (286) and the polling stops."""
    context = list_context(session, view)
    status = 200 if reads.anything_active(session) else STOP_POLLING
    response = templates.TemplateResponse(
        request, "_experiment_list.html", context, status_code=status
    )
    if request.headers.get("HX-Trigger") == "experiment-filters":
        response.headers["HX-Replace-Url"] = view.url()  # the address bar keeps the filters
    return response


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, session: SessionDep, runs: Annotated[str, Query(max_length=300)] = ""
):
    """Arms of any experiments side by side: their settings that differ, and the same charts as
    an experiment page."""
    try:
        ids = run_ids(runs)
    except HTTPException as e:
        return templates.TemplateResponse(
            request, "compare.html", {"error": e.detail[0]["msg"]}, status_code=422
        )
    out = compare_snapshot(session, ids)
    if isinstance(out, int | str):
        status = 404 if isinstance(out, int) else 422
        error = f"Run {out} does not exist (it may have been deleted)." if status == 404 else out
        return templates.TemplateResponse(
            request, "compare.html", {"error": error}, status_code=status
        )
    return templates.TemplateResponse(request, "compare.html", {**out, "error": None})


@router.get("/fragments/workers", response_class=HTMLResponse)
def workers_panel(request: Request, session: SessionDep, settings: SettingsDep):
    """The live workers and what they train, or why nothing trains (the pages poll it)."""
    return templates.TemplateResponse(
        request, "_workers.html", {"fleet": fleet.snapshot(session, settings)}
    )


@router.post("/experiments")
async def submit(request: Request, engine: EngineDep, settings: SettingsDep):
    raw, body, errors = forms.parse(await request.form())
    experiment_id = None
    if body is not None:
        try:
            # A write that may wait for the write lock: off the event loop, which serves the
            # streams.
            experiment_id = await to_thread.run_sync(
                service.launch, engine, body, settings.max_work
            )
        except service.TooMuchWork as e:
            errors = {"form": str(e)}
    if experiment_id is None:
        # 422 with the form again, errors inline; htmx swaps it in place (see base.html config).
        return templates.TemplateResponse(
            request, "_form.html", {"values": raw, "errors": errors}, status_code=422
        )
    url = f"/experiments/{experiment_id}"
    if request.headers.get("HX-Request"):
        return Response(status_code=201, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str, Query(max_length=200)] = "/"):
    return templates.TemplateResponse(request, "login.html", {"next": _local(next), "error": ""})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, settings: SettingsDep):
    form = await request.form()
    given, target = str(form.get("token", "")), _local(str(form.get("next", "/")))
    token = settings.token.get_secret_value() if settings.token else None
    if token is None or not hmac.compare_digest(given.encode(), token.encode()):
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": target, "error": "That is not the token."},
            status_code=401,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        cookie_value(token),  # an HMAC of the token, never the token itself (see app.security)
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
    )
    return response


def _local(target: str) -> str:
    """Only paths of this server: never redirect a login to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request):
    """Swagger UI from the vendored files (FastAPI's default loads it from a CDN)."""
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment_page(request: Request, experiment_id: ExperimentId, session: SessionDep):
    snapshot = found(experiment_snapshot(session, experiment_id), "experiment", experiment_id)
    return templates.TemplateResponse(request, "experiment.html", snapshot)


@router.post("/experiments/{experiment_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, experiment_id: ExperimentId, engine: EngineDep):
    _, experiment = found(service.cancel(engine, experiment_id), "experiment", experiment_id)
    return templates.TemplateResponse(
        request, "_experiment_status.html", {"experiment": experiment}
    )
