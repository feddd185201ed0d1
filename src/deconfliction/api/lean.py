"""The lean lane: the hotline's writes served without FastAPI's per-request machinery.

A hotline message is the request the line must take a thousand times a second (issue: 1,000
messages/s, POST → stream p99 ≤ 100 ms). For such a small request FastAPI's route matching,
dependency solving and response validation cost more CPU than the write itself, and the server
is bound by one core. `LeanLane` is an ASGI middleware that serves a few routes directly: it
authenticates, parses and validates the body with the same Pydantic model, calls the same
handler the FastAPI route calls and answers the same JSON; errors become the same RFC 9457
problems (`problems`). The FastAPI routes stay registered, so the OpenAPI document, the docs
and every other path are unchanged; requests the lane does not serve pass through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from deconfliction.api import problems
from deconfliction.api.deps import party_for
from deconfliction.model import fastjson
from deconfliction.model.party import Party
from deconfliction.service.errors import LineError
from deconfliction.service.line import Line

Handler = Callable[[Line, Party, Any, dict[str, str]],
                   Awaitable[tuple[dict[str, Any], dict[str, str]]]]
"""``(line, party, body, path parameters) → (JSON view, extra response headers)``."""


@dataclass(frozen=True, slots=True)
class LeanRoute:
    """A POST route the lane serves: its path (``{name}`` matches one segment), the model its
    JSON body must satisfy, the status it answers with and the handler."""

    path: str
    body: type[BaseModel]
    status: int
    handler: Handler

    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
                          + "$")


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI would read the body as JSON (no type given, or application/*json)."""
    if content_type is None:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    major, _, sub = kind.partition("/")
    return major == "application" and (sub == "json" or sub.endswith("+json"))


def _body_error(kind: str, loc: tuple[Any, ...], msg: str, **ctx: Any) -> RequestValidationError:
    error: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": None}
    if ctx:
        error["ctx"] = ctx
    return RequestValidationError([error])


_NO_BODY = object()


def _parsed(raw: bytes, content_type: str | None) -> Any:
    """The JSON body (`_NO_BODY` if empty; the bytes if not declared JSON), or the
    `RequestValidationError` FastAPI raises for malformed JSON."""
    if not _is_json(content_type):
        return raw
    if not raw:
        return _NO_BODY
    try:
        return json.loads(raw)
    except RecursionError:  # deeper than the guard's nesting_depth lets through by default
        raise _body_error("json_invalid", ("body", 0), "JSON decode error",
                          error="nested too deep") from None
    except ValueError as error:
        raise _body_error("json_invalid", ("body", getattr(error, "pos", 0)),
                          "JSON decode error", error=getattr(error, "msg", str(error))) from None


def _validated(route: LeanRoute, data: Any) -> BaseModel:
    """The body as ``route.body``, or the `RequestValidationError` FastAPI would raise."""
    if data is _NO_BODY:
        raise _body_error("missing", ("body",), "Field required")
    if not isinstance(data, dict):
        raise _body_error("model_attributes_type", ("body",), "not a JSON object")
    try:
        return route.body.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError([
            {**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)
        ]) from None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class LeanLane:
    """ASGI middleware serving `LeanRoute`s (POST only) ahead of the app it wraps."""

    def __init__(self, app: ASGIApp, routes: Sequence[LeanRoute]) -> None:
        self.app = app
        self.routes = [(route, route.pattern()) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route, pattern in self.routes:
                matched = pattern.match(path)
                if matched:
                    await self._serve(route, matched.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, route: LeanRoute, params: dict[str, str], scope: Scope,
                     receive: Receive, send: Send) -> None:
        line: Line = scope["app"].state.line
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"]}
        raw = await _read_body(receive)
        try:
            # in FastAPI's order: malformed JSON, then the caller, then the body's fields
            data = _parsed(raw, headers.get("content-type"))
            party = await party_for(line, headers.get("authorization"))
            body = _validated(route, data)
            view, extra = await route.handler(line, party, body, params)
        except LineError as error:
            await problems.error_response(error)(scope, receive, send)
            return
        except RequestValidationError as error:
            await problems.validation_problem(error)(scope, receive, send)
            return
        content = fastjson.dumps(view)
        await send({"type": "http.response.start", "status": route.status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            *((name.lower().encode("latin-1"), value.encode("latin-1"))
              for name, value in extra.items()),
        ]})
        await send({"type": "http.response.body", "body": content})
