"""Dependencies shared by the route modules: the app's engine, settings (the one Settings object
create_app was given) and live feed, a read session per request, and the path and query
parameters several routes parse alike."""

import unicodedata
from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session

from app.live import LiveFeed
from store import reads
from store.engine import read_session
from store.models import Run
from store.settings import Settings

T = TypeVar("T")


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    """The settings every part of this server reads: those create_app was given."""
    return request.app.state.settings


def get_live(request: Request) -> LiveFeed:
    return request.app.state.live


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with read_session(engine) as session:
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
LiveDep = Annotated[LiveFeed, Depends(get_live)]
# Bounded so a huge id answers 404 (or 422), never an integer overflow in the database driver.
ExperimentId = Annotated[int, Path(ge=1, le=2**62, description="Experiment id")]
RunId = Annotated[int, Path(ge=1, le=2**62, description="Run id")]


def epoch_query(default: str):
    """The type of an `epoch` query parameter (histograms); `default` says which epoch is shown
    when none is given."""
    return Annotated[int | None, Query(ge=1, le=10**6, description=f"Default: {default}")]


def not_found(what: str, id_: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} {id_} not found")


def found(value: T | None, what: str, id_: int) -> T:
    """`value`, or a 404 saying which `what` was not found."""
    if value is None:
        raise not_found(what, id_)
    return value


def get_run(run_id: RunId, session: SessionDep) -> Run:
    """The run the path names, or a 404."""
    return found(reads.run(session, run_id), "run", run_id)


RunDep = Annotated[Run, Depends(get_run)]


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


def compared_runs(runs: RunIds, session: SessionDep) -> list[int]:
    """The `runs` query of the compare endpoints: parsed (else a 422), each an existing run
    (else a 404 naming the first missing one)."""
    ids = run_ids(runs)
    present = reads.runs(session, ids)
    for rid in ids:
        if rid not in present:
            raise not_found("run", rid)
    return ids


RunIdsDep = Annotated[list[int], Depends(compared_runs)]
