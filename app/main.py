"""create_app(): the FastAPI application (routers, static files, the live feed)."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from app import fleet
from app.errors import validation_error
from app.live import LiveFeed
from app.routes import api, events, pages
from app.security import Guard
from app.templating import STATIC_DIR
from store.engine import get_engine
from store.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = get_engine(settings.db_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await app.state.live.start()
        sweeper = asyncio.create_task(fleet.sweep_dead(engine, settings), name="reglab-sweep")
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await app.state.live.stop()

    app = FastAPI(
        title="reglab",
        summary="Live regularization experiments in PyTorch.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from vendored files by app.routes.pages
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.live = LiveFeed(engine, settings)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(Guard, settings=settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(events.router)
    app.include_router(pages.router)
    return app
