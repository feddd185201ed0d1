"""Admission of requests no party's token is on (issue 13): no token, a malformed one and
made-up ones are all charged to one pseudo-party with a party's share, so a flood of them is
refused 429 before its bodies are read while a real party is let in; a valid token is looked
up before it is called unknown, and an unknown one is looked up again after a while (a party
added since is charged to itself). The `Admission` middleware over a real store and the fake
clock; the app behind it holds each request until the test lets it go."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from deconfliction.api.admission import UNKNOWN_FOR_S, Admission
from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.service import parties
from deconfliction.service.line import Line, LineSettings
from support.service_level import FakeClock

pytestmark = pytest.mark.anyio


class _Held:
    """An ASGI app that answers 200 once the test sets ``go``; ``inside``: requests in it."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.inside = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.inside += 1
        try:
            await self.go.wait()
        finally:
            self.inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def _request(admission: Admission, authorization: str | None) -> tuple[int, Any]:
    """One GET through ``admission``: its status and body (JSON, or None when empty)."""
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await admission({"type": "http", "path": "/v1/health", "method": "GET",
                     "headers": headers}, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], json.loads(body) if body else None


async def _until(predicate: Any) -> None:
    for _ in range(3000):  # a bound (30 s) for the store's lookups, never a figure
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_requests_without_a_known_token_share_one_party_s_place(
        store: Any, clock: FakeClock) -> None:
    line = Line(store, LineSettings(limits=replace(Limits(), requests_in_flight=2)),
                clock=clock)
    _, blue_token = await parties.add_party(line, "blue", Role.OPERATOR, clock())
    app = _Held()
    admission = Admission(app, line, line.settings.limits)
    held = [asyncio.create_task(_request(admission, "Bearer made-up-1")),
            asyncio.create_task(_request(admission, "Bearer made-up-2"))]
    await _until(lambda: app.inside == 2)
    # the pseudo-party is full: another made-up token, none at all, a malformed one: 429
    for authorization in ("Bearer made-up-3", None, "Basic Ym9ndXM=", "Bearer made-up-1"):
        status, problem = await _request(admission, authorization)
        assert status == 429, authorization
        assert (problem["code"], problem["limit"]) == ("rate_limited", "requests_in_flight")
    # a real party's token is looked up, never taken for an unknown one: let in
    blue = asyncio.create_task(_request(admission, f"Bearer {blue_token}"))
    await _until(lambda: app.inside == 3)
    app.go.set()
    assert [await t for t in (*held, blue)] == [(200, {})] * 3


async def test_an_unknown_token_is_looked_up_again_after_a_while(
        store: Any, clock: FakeClock) -> None:
    line = Line(store, LineSettings(), clock=clock)
    app = _Held()
    app.go.set()
    admission = Admission(app, line, line.settings.limits)
    _, token = await parties.add_party(line, "blue", Role.OPERATOR, clock())
    admission._unknown[f"Bearer {token}".encode()] = clock() + UNKNOWN_FOR_S  # as if seen
    assert await admission._party(f"Bearer {token}".encode()) != "blue"
    clock.at(UNKNOWN_FOR_S + 1.0)
    assert await admission._party(f"Bearer {token}".encode()) == "blue"
