"""Dependencies shared by the route modules."""

from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session

from app.live import LiveFeed
from store.engine import read_session
from store.settings import Settings

T = TypeVar("T")


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
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


def not_found(what: str, id_: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} {id_} not found")


def found(value: T | None, what: str, id_: int) -> T:
    """`value`, or a 404 saying which `what` was not found."""
    if value is None:
        raise not_found(what, id_)
    return value
