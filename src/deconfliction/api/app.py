"""The app factory: the line is built by the caller and handed in (tests override nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from deconfliction import __version__
from deconfliction.api import problems
from deconfliction.api.routes import (
    constraints,
    events,
    hotline,
    link,
    meta,
    operations,
    tactical,
    webhooks,
)
from deconfliction.service.hotline import run_escalation
from deconfliction.service.line import Line
from deconfliction.service.tactical import run_detection
from deconfliction.service.webhooks import run_webhooks


def create_app(line: Line, *, detection: bool = True) -> FastAPI:
    """An ASGI app serving ``line``: the HTTP API, the hotline's escalation, webhook delivery
    and (unless ``detection`` is False) the tactical detection cycle; the store is closed when
    the app shuts down. Commits wake this process's event streams."""
    line.store.on_commit(line.live.notifier.notify)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        detector = None
        if detection and line.settings.detection_interval_s > 0:
            detector = asyncio.create_task(run_detection(line, stop), name="detection-cycle")
        escalator = asyncio.create_task(run_escalation(line, stop), name="escalation")
        deliverer = asyncio.create_task(run_webhooks(line, stop), name="webhooks")
        yield
        stop.set()
        if detector is not None:
            await detector
        await escalator
        await deliverer
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
    for router in (meta.router, events.router, operations.router, constraints.router,
                   tactical.router, hotline.router, link.router, webhooks.router):
        app.include_router(router)
    return app
