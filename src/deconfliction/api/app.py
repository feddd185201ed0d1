"""The app factory: the line is built by the caller and handed in (tests override nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from deconfliction import __version__
from deconfliction.api import openapi, problems
from deconfliction.api.admission import Admission
from deconfliction.api.lean import LeanLane
from deconfliction.api.routes import (
    console,
    constraints,
    events,
    hotline,
    ledger,
    link,
    meta,
    operations,
    tactical,
    webhooks,
)
from deconfliction.service.hotline import run_escalation
from deconfliction.service.ledger import run_signer
from deconfliction.service.line import Line
from deconfliction.service.tactical import run_detection
from deconfliction.service.webhooks import run_webhooks

BackgroundTask = Callable[[Line, asyncio.Event], Coroutine[Any, Any, None]]
"""A coroutine run beside the API until its ``stop`` event is set (e.g. the demo's aircraft)."""


def create_app(
    line: Line, *, detection: bool = True, tasks: Sequence[BackgroundTask] = (),
    lean: bool = True,
) -> FastAPI:
    """An ASGI app serving ``line``: the HTTP API, the hotline's escalation, webhook delivery,
    (unless ``detection`` is False) the tactical detection cycle and any extra ``tasks``; the
    store is closed when the app shuts down. Commits wake this process's event streams. The
    ledger's tree heads are signed here too. With ``lean`` (the default) the hotline's writes
    take the lean lane (`api.lean`); without it FastAPI serves them, as it does the rest."""
    line.store.on_commit(line.live.notifier.notify)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        detector = None
        if detection and line.settings.detection_interval_s > 0:
            detector = asyncio.create_task(run_detection(line, stop), name="detection-cycle")
        escalator = asyncio.create_task(run_escalation(line, stop), name="escalation")
        deliverer = asyncio.create_task(run_webhooks(line, stop), name="webhooks")
        signer = asyncio.create_task(run_signer(line, stop), name="ledger-signer")
        extra = [asyncio.create_task(run(line, stop)) for run in tasks]
        yield
        stop.set()
        for running in extra:
            await running
        if detector is not None:
            await detector
        await escalator
        await deliverer
        await signer
        await line.store.close()

    app = FastAPI(
        title="deconfliction",
        version=__version__,
        description="A neutral deconfliction line: declare where and when you will operate, "
        "learn in time when you would come too close to another party or closed airspace.",
        lifespan=lifespan,
        # /docs is the packaged Swagger UI (routes/console.py), never FastAPI's CDN-loaded one
        docs_url=None,
        redoc_url=None,
    )
    app.state.line = line
    problems.install(app)
    openapi.install(app)  # the document that tells the truth, made once
    if lean:
        app.add_middleware(LeanLane, routes=hotline.LEAN_ROUTES)  # inside the body limit
    app.add_middleware(problems.RequestGuard, limits=line.settings.limits)
    # outermost: a party over its share is refused before its body is read
    app.add_middleware(Admission, line=line, limits=line.settings.limits)
    for router in (meta.router, events.router, operations.router, constraints.router,
                   tactical.router, hotline.router, link.router, webhooks.router,
                   ledger.router):
        app.include_router(router)
    console.install(app)  # after the API: it only adds "/", "/docs" and "/assets"
    return app
