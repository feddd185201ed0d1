"""JSON request bodies parsed and validated with bounded event-loop time.

FastAPI parses a JSON body with ``json.loads`` on the event loop and then validates it against
the route's model there too: a valid 0.44 MB track batch (2,000 reports) took ~4 ms to parse
and ~10 ms to validate on a quiet machine (tens of ms on a busy one), and Pydantic validates
every item of a list before refusing it as too long (3,000 volumes: 50-80 ms), while every
other party waited. `BodyRoute` parses bodies over `OFF_LOOP_BYTES` with orjson (several times
faster) on a worker thread and validates them there with the route's own body field. A valid
body reaches FastAPI as the model instance, which it takes as it is (Pydantic does not
validate an instance of the model again: ~10 µs). An invalid one reaches it as ``null``
(refused at once as missing) and the errors found on the thread are put in the place of that
one: the problem is the same as before, and still comes after the route's dependencies
(authentication first). Smaller bodies are handled as before, so their problems stay the same
as the lean lane's (`api.lean`). Parsing errors are still ``json.JSONDecodeError`` (orjson's
subclasses it), which FastAPI answers as ``json_invalid``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["BodyRoute", "OFF_LOOP_BYTES"]

OFF_LOOP_BYTES = 64 * 1024  # below this, json.loads takes well under a millisecond


def _parse(body: bytes, field: Any) -> tuple[Any, list[dict[str, Any]] | None]:
    """On a worker thread: the JSON of ``body`` and, when ``field`` (the route's single,
    unembedded body field) is given, what it makes of it: ``(model instance, None)``, or
    ``(None, errors)`` located as FastAPI locates them (under ``body``)."""
    data = orjson.loads(body)
    if field is None:
        return data, None
    value, errors = field.validate(data, {}, loc=("body",))
    return (None, list(errors)) if errors else (value, None)


class _JsonRequest(Request):
    body_field: Any = None
    body_errors: list[dict[str, Any]] | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > OFF_LOOP_BYTES:
                self._json, self.body_errors = await asyncio.to_thread(
                    _parse, body, self.body_field)
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
            try:
                return await handler(wrapped)
            except RequestValidationError as refused:
                if wrapped.body_errors is None:
                    raise
                # the body's errors found on the thread, in the place of "missing"
                kept = [e for e in refused.errors() if tuple(e.get("loc", ()))[:1] != ("body",)]
                raise RequestValidationError([*kept, *wrapped.body_errors]) from None

        return route_handler
