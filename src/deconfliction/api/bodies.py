"""JSON request bodies parsed with bounded event-loop time.

FastAPI parses a JSON body with ``json.loads`` on the event loop, before the body's model
checks any list's length: a 1 MiB body held the loop for tens of milliseconds on a quiet
machine (hundreds on a busy one) while every other party waited. `BodyRoute` parses bodies
over `OFF_LOOP_BYTES` with orjson (several times faster) on a worker thread; smaller ones as
before, so their problems stay the same as the lean lane's (`api.lean`). Parsing errors are
still ``json.JSONDecodeError`` (orjson's subclasses it), which FastAPI answers as
``json_invalid``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["BodyRoute", "OFF_LOOP_BYTES"]

OFF_LOOP_BYTES = 64 * 1024  # below this, json.loads takes well under a millisecond


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > OFF_LOOP_BYTES:
                self._json = await asyncio.to_thread(orjson.loads, body)
            else:
                self._json = json.loads(body)
        return self._json


class BodyRoute(APIRoute):
    """An API route whose large JSON bodies are parsed off the event loop."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return route_handler
