"""HTML pages and the htmx fragments they swap in."""

import hmac
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app import fleet, forms
from app.db import queue
from app.db.engine import read_session
from app.deps import EngineDep, ExperimentId, SessionDep, SettingsDep, not_found
from app.limits import over_budget
from app.presets import PRESETS
from app.routes.api import launch
from app.schemas import ExperimentIn
from app.security import TOKEN_COOKIE, cookie_value
from app.templating import templates
from app.views import experiment_snapshot, get_experiment, list_experiments

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep):
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "values": forms.form_values(ExperimentIn()),
            "errors": {},
            "experiments": list_experiments(session),
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


@router.get("/fragments/experiments", response_class=HTMLResponse)
def experiment_list(request: Request, session: SessionDep):
    return templates.TemplateResponse(
        request, "_experiment_list.html", {"experiments": list_experiments(session)}
    )


@router.get("/fragments/workers", response_class=HTMLResponse)
def workers_panel(request: Request, session: SessionDep, settings: SettingsDep):
    """The live workers and what they train, or why nothing trains (the pages poll it)."""
    return templates.TemplateResponse(
        request, "_workers.html", {"fleet": fleet.snapshot(session, settings)}
    )


@router.post("/experiments")
async def submit(request: Request, engine: EngineDep, settings: SettingsDep):
    raw, body, errors = forms.parse(await request.form())
    if body is not None and (too_big := over_budget(body, settings.max_work)):
        body, errors = None, {"form": too_big}
    if body is None:
        # 422 with the form again, errors inline; htmx swaps it in place (see base.html config).
        return templates.TemplateResponse(
            request, "_form.html", {"values": raw, "errors": errors}, status_code=422
        )
    experiment_id = launch(engine, body)
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
    snapshot = experiment_snapshot(session, experiment_id)
    if snapshot is None:
        raise not_found("experiment", experiment_id)
    return templates.TemplateResponse(request, "experiment.html", snapshot)


@router.post("/experiments/{experiment_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, experiment_id: ExperimentId, engine: EngineDep, session: SessionDep):
    if get_experiment(session, experiment_id) is None:
        raise not_found("experiment", experiment_id)
    queue.request_cancel(engine, experiment_id)
    with read_session(engine) as fresh:  # the request's session still reads its old snapshot
        experiment = get_experiment(fresh, experiment_id)
    return templates.TemplateResponse(
        request, "_experiment_status.html", {"experiment": experiment}
    )
