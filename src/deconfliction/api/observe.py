"""What the server says about each request: one access log line (method, path, status, party,
duration) and, when metrics are on, its count and latency; ``/metrics`` itself.

The log never holds a token, a body or a query string (a path names ids only). The party is
the one whose token the route accepted (`note_party`, called by `deps.party_for`); ``-``
when none was (no token, a refused one, ``/v1/health``). The duration is the whole exchange:
for an event stream, how long it stayed open.

`Observed` wraps the whole app (outermost), so refusals made before any route (body limits,
per-party admission) are logged and counted too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # api.metrics authenticates through api.deps, which imports this module
    from deconfliction.api.lean import LeanRoute
    from deconfliction.api.metrics import Metrics

__all__ = ["ACCESS_LOG", "Observed", "note_party"]

ACCESS_LOG = logging.getLogger("deconfliction.access")

_PARTY: ContextVar[list[str]] = ContextVar("deconfliction_request_party")


def note_party(name: str) -> None:
    """Record that the request being served is ``name``'s (for its access log line)."""
    box = _PARTY.get(None)
    if box is not None and not box:
        box.append(name)


def _route(scope: Scope, templates: Sequence[tuple[re.Pattern[str], str]]) -> str:
    """The route template that served this request (FastAPI's, else one of ``templates``:
    the routes served before FastAPI's router, `api.lean`), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for pattern, template in templates:
        if pattern.match(scope["path"]):
            return template
    return "unmatched"


class Observed:
    """ASGI wrapper: an access log line a request, metrics (if given) and ``/metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics | None = None,
                 lean_routes: Sequence[LeanRoute] = (),
                 log: logging.Logger = ACCESS_LOG) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = [(route.pattern(), route.path) for route in lean_routes]
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[float] = []
        status = 0

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                answered.append(time.perf_counter())
            await send(message)

        box: list[str] = []
        token = _PARTY.set(box)
        try:
            if self.metrics is not None and scope["path"] == self.metrics.path:
                await self.metrics(scope, receive, noting)
            else:
                await self.app(scope, receive, noting)
        except BaseException:
            status = status or 500  # the server answers 500 if nothing was sent
            raise
        finally:
            _PARTY.reset(token)
            ended = time.perf_counter()
            route = _route(scope, self.templates)
            if self.metrics is not None and status:
                self.metrics.observe(route, scope["method"], status,
                                     (answered[0] if answered else ended) - started)
            if self.log.isEnabledFor(logging.INFO):
                party = box[0] if box else "-"
                shown = str(status) if status else "-"  # the client left before an answer
                duration_ms = round((ended - started) * 1000, 1)
                self.log.info("%s %s %s %s %.1f ms", scope["method"], scope["path"], shown,
                              party, duration_ms, extra={
                                  "method": scope["method"], "path": scope["path"],
                                  "status": status or None, "party": box[0] if box else None,
                                  "route": route, "duration_ms": duration_ms})
