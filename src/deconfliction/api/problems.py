"""RFC 9457 problem details: every error a client sees, mapped once at the edge."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deconfliction.api.schemas import NUL_MESSAGE
from deconfliction.api.views import jsonable
from deconfliction.model.limits import Limits
from deconfliction.service import errors

log = logging.getLogger(__name__)

MAX_BODY_BYTES = Limits().body_bytes  # the default; the guard takes the configured one
PROBLEM_JSON = "application/problem+json"

STATUS = {
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.ValidationFailed: 400,
    errors.OvnMismatch: 409,
    errors.AlreadyEnded: 409,
    errors.AlreadyExists: 409,
    errors.Refusal: 409,
    errors.RateLimited: 429,
}
TITLES = {
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed for this party",
    "not_found": "Not found",
    "validation_error": "Invalid request",
    "ovn_mismatch": "Stale version (ovn)",
    "ended": "Already ended",
    "already_exists": "Already exists",
    "conflict": "Conflicts with another party's operation",
    "constraint": "Enters closed airspace",
    "short_notice": "Short-notice declaration conflicts",
    "missing_ovns": "Awareness key incomplete",
    "body_too_large": "Request body too large",
    "limit_exceeded": "Over one of the line's limits",
    "rate_limited": "Too many requests",
    "unsupported_media_type": "Unsupported media type",
    "internal_error": "Internal error",
}


def problem_body(status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """An RFC 9457 problem object: type, title, status, detail, code and the extensions."""
    return {"type": f"urn:deconfliction:problem:{code}", "title": TITLES.get(code, code),
            "status": status, "detail": detail, "code": code, **jsonable(extensions)}


def problem(status: int, code: str, detail: str, **extensions: Any) -> JSONResponse:
    body = problem_body(status, code, detail, **extensions)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_status(error: errors.LineError) -> int:
    """The HTTP status a coded error maps to."""
    if isinstance(error, errors.LimitExceeded):
        return error.status
    return next(s for cls, s in STATUS.items() if isinstance(error, cls))


def error_problem(error: errors.LineError) -> dict[str, Any]:
    """The problem object a coded error becomes: what its response carries, and what a dry
    run (POST /v1/operations/check) embeds as the refusal the declaration would meet."""
    return problem_body(error_status(error), error.code, error.detail, **error.extensions)


def _field(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and parts[i - 1] == "footprint" and part in ("Polygon", "Circle"):
            continue  # the discriminated union's tag, not a field
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def error_response(error: errors.LineError) -> JSONResponse:
    """The problem response a coded error becomes (FastAPI's routes and the lean lane)."""
    response = problem(error_status(error), error.code, error.detail, **error.extensions)
    if isinstance(error, errors.RateLimited):  # RFC 9110 §10.2.3: whole seconds
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return response


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    found = []
    reported = exc.errors()
    for e in reported[:errors.MAX_LISTED]:
        message = e.get("msg", "invalid")
        if e.get("type") == "json_invalid":
            message = f"body is not valid JSON: {e.get('ctx', {}).get('error', message)}"
            found.append(errors.FieldError("body", message))
            continue
        if e.get("type") == "extra_forbidden":
            message = "unknown field"
        elif e.get("type") == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",):
            message = "the body must be a JSON object (send Content-Type: application/json)"
        found.append(errors.FieldError(_field(tuple(e.get("loc", ()))), message))
    failure = errors.ValidationFailed(found, omitted=max(0, len(reported) - len(found)))
    return problem(400, failure.code, failure.detail, **failure.extensions)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem response."""

    @app.exception_handler(errors.LineError)
    async def _line_error(_request: Request, exc: errors.LineError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed",
                415: "unsupported_media_type"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.exception("unexpected error %s", error_id, exc_info=exc)
        return problem(500, "internal_error", f"unexpected error; quote id {error_id}",
                       error_id=error_id)


def _nul_in_target(scope: Scope) -> str | None:
    """Which part of the request target holds U+0000 once decoded ("path", "query"), if any."""
    if "\x00" in scope.get("path", ""):
        return "path"
    if b"%00" in scope.get("query_string", b""):
        return "query"
    return None


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``, in numpy
    over its structural bytes (a parser would recurse, and Python's answers a deep enough body
    with RecursionError): a quote after an even run of backslashes opens or closes a string,
    brackets outside strings are summed. A few ms for 1 MiB whatever it holds (cutting the
    strings out with a regular expression took 85-110 ms for the 100,000 strings of a 0.8 MB
    body, on the event loop)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    kinds = _KIND[np.frombuffer(raw, np.uint8)]
    at = np.flatnonzero(kinds)
    kind = kinds[at]
    if b"\\" in raw:
        backslash = kind == _BACKSLASH
        k = np.arange(len(at))
        after = np.zeros(len(at), dtype=bool)  # right after a backslash
        after[1:] = backslash[:-1] & (at[1:] == at[:-1] + 1)
        run_start = np.maximum.accumulate(np.where(backslash & ~after, k, 0))
        odd = backslash & ((k - run_start) % 2 == 0)  # the run so far has odd length
        escaped = np.zeros(len(at), dtype=bool)
        escaped[1:] = after[1:] & odd[:-1]
        kind = kind[~backslash & ~(escaped & (kind == _QUOTE))]
    outside = (np.cumsum(kind == _QUOTE) % 2) == 0  # a bracket is never a quote: exact
    steps = ((kind == _OPEN).astype(np.int32) - (kind == _CLOSE)) * outside
    return bool(len(steps)) and int(np.cumsum(steps).max()) > limit


_QUOTE, _OPEN, _CLOSE, _BACKSLASH = 1, 2, 3, 4
_KIND = np.zeros(256, dtype=np.int8)
_KIND[[ord('"'), ord("["), ord("{"), ord("]"), ord("}"), ord("\\")]] = [
    _QUOTE, _OPEN, _OPEN, _CLOSE, _CLOSE, _BACKSLASH]


OFF_LOOP_BYTES = 64 * 1024
"""Bodies larger than this are measured for depth on a worker thread (numpy releases the
GIL), so not even the few milliseconds of a 1 MiB body are spent on the event loop."""


class RequestGuard:
    """Refuse before anything parses them: bodies over ``limits.body_bytes`` (413), JSON
    nested deeper than ``limits.nesting_depth`` (400), both naming the limit, and a path or
    query that holds U+0000 (bodies are checked field by field, `schemas.Strict`)."""

    def __init__(self, app: ASGIApp, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (where := _nul_in_target(scope)) is not None:
            failure = errors.ValidationFailed([errors.FieldError(where, NUL_MESSAGE)])
            await problem(400, failure.code, failure.detail,
                          **failure.extensions)(scope, receive, send)
            return
        limit = self.limits.body_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = scope.get("method") not in ("GET", "HEAD", "OPTIONS")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body ended: nothing to answer or store
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        depth = self.limits.nesting_depth
        if (await asyncio.to_thread(too_deep, body, depth) if len(body) > OFF_LOOP_BYTES
                else too_deep(body, depth)):
            await error_response(errors.LimitExceeded(
                f"the body nests arrays and objects more than {depth} deep",
                limit="nesting_depth", value=depth))(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.body_bytes
        response = problem(413, "body_too_large", f"request body exceeds {limit} bytes",
                           limit="body_bytes", value=limit)
        await response(scope, receive, send)
