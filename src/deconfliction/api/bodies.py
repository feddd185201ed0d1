"""JSON request bodies parsed and validated with bounded event-loop time.

FastAPI parses a JSON body with ``json.loads`` on the event loop and then validates it against
the route's model there too: a valid 0.44 MB track batch (2,000 reports) took ~4 ms to parse
and ~10 ms to validate on a quiet machine (tens of ms on a busy one) while every other party
waited. `BodyRoute` parses bodies over `OFF_LOOP_BYTES` with orjson (several times faster) on a
worker thread and validates them there with the route's own body field: a valid body reaches
FastAPI as the model instance, which it takes as it is (Pydantic does not validate an instance
of the model again: ~10 µs); an invalid one reaches it as the parsed JSON and is refused there
exactly as before (lists stop at their first wrong item, so finding the errors is cheap).
Smaller bodies are handled as before, so their problems stay the same as the lean lane's
(`api.lean`). Parsing errors are still ``json.JSONDecodeError`` (orjson's subclasses it),
which FastAPI answers as ``json_invalid``.
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


def _parse(body: bytes, field: Any) -> Any:
    """On a worker thread: the JSON of ``body``, as the route's model instance when ``field``
    (the route's single, unembedded body field) takes it."""
    data = orjson.loads(body)
    if field is not None:
        value, errors = field.validate(data, {}, loc=("body",))
        if not errors:
            return value
    return data


class _JsonRequest(Request):
    body_field: Any = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > OFF_LOOP_BYTES:
                self._json = await asyncio.to_thread(_parse, body, self.body_field)
            else:
                self._json = json.loads(body)
        return self._json


class BodyRoute(APIRoute):
    """An API route whose large JSON bodies are parsed and validated off the event loop."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        single = (self.body_field is not None and not self._embed_body_fields
                  and len(self.dependant.body_params) == 1)
        field = self.body_field if single else None

        async def route_handler(request: Request) -> Response:
            wrapped = _JsonRequest(request.scope, request.receive)
            wrapped.body_field = field
            return await handler(wrapped)

        return route_handler
