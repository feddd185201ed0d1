"""The app factory: the line is built by the caller and handed in (tests override nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from deconfliction import __version__
from deconfliction.api import problems
from deconfliction.api.routes import constraints, meta, operations, tactical
from deconfliction.service.line import Line


def create_app(line: Line) -> FastAPI:
    """An ASGI app serving ``line``; the store is closed when the app shuts down."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await line.store.close()

    app = FastAPI(
        title="deconfliction",
        version=__version__,
        description="A neutral deconfliction line: declare where and when you will operate, "
        "learn in time when you would come too close to another party or closed airspace.",
        lifespan=lifespan,
    )
    app.state.line = line
    problems.install(app)
    app.add_middleware(problems.BodyLimit)
    for router in (meta.router, operations.router, constraints.router, tactical.router):
        app.include_router(router)
    return app
