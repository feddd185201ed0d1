"""Per-party admission: no party takes more than its share of the server.

A server process runs every request's Python on one event loop. One party sending requests
back to back — even requests that are all refused — would otherwise take that loop (and the
cores) from the others. `Admission` is the outermost ASGI middleware: before a body is read it
tells the party from its bearer token (a cache; a store lookup on a miss) and asks
`service.quota.Shares` to let the request in: at most ``requests_in_flight`` at once per party,
and a budget of ``server_ms_per_s`` of server time. What a request cost is the process's CPU
time while it was in the server, split evenly among the requests in the server at the time
(`service.quota.CpuMeter`): the loop's work, its body's bytes arriving, parsing on worker
threads, the database's. It is charged to its party when its response starts (an event stream:
its opening only; streams are bounded by ``streams_per_party``, and a stream past that cap is
refused here too, before the route is solved: 500 stream requests of one token at once cost the
others' p99 ~0.8 s when each reached the route). A refusal is a prebuilt 429 problem with
``Retry-After``; the body is never read.

Requests without a known token (none, a malformed one, one no party holds) are charged to
one pseudo-party, `service.quota.ANONYMOUS`, with a party's share: a flood of made-up tokens
is refused 429 before its bodies are read while the parties are served (16 threads posting
1 MB bodies under one made-up token took the honest party's health p99 from 19 to 271 ms
when they passed uncharged). A token is looked up in the store before it is called unknown,
so a valid one is never charged there; an unknown one is remembered for
:data:`UNKNOWN_FOR_S` (a party added since is then charged to itself). A token that
authenticates but whose role may not use the route is charged to its party. The cache only
says whom to charge; every request is still authenticated by its route, so a revoked token
is refused there at once.
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deconfliction.api.problems import PROBLEM_JSON, problem_body
from deconfliction.model import fastjson
from deconfliction.model.limits import Limits
from deconfliction.service.errors import Unauthenticated
from deconfliction.service.events import STREAM_RETRY_AFTER_S
from deconfliction.service.line import Line
from deconfliction.service.parties import authenticate
from deconfliction.service.quota import ANONYMOUS, CpuMeter, Shares

__all__ = ["Admission"]

CACHE_ENTRIES = 10_000  # tokens remembered (cleared when full: a miss costs one lookup)
UNKNOWN_FOR_S = 5.0  # an unknown token is looked up again after this
_cpu = time.process_time  # CPU time of the whole process (every thread)


def _refusal(limit: str, value: int, detail: str) -> bytes:
    return fastjson.dumps(problem_body(429, "rate_limited", detail, limit=limit, value=value))


class Admission:
    """ASGI middleware admitting each party's requests within its share (see the module)."""

    def __init__(self, app: ASGIApp, line: Line, limits: Limits) -> None:
        self.app = app
        self.line = line
        self.shares = Shares(requests_in_flight=limits.requests_in_flight,
                             server_ms_per_s=limits.server_ms_per_s,
                             server_ms_burst=limits.server_ms_burst)
        self.meter = CpuMeter()
        self._parties: dict[bytes, str] = {}  # Authorization value → party
        self._unknown: dict[bytes, float] = {}  # Authorization value → until when unknown
        self._bodies = {  # the refusals, built once (Retry-After is added per refusal)
            "requests_in_flight": _refusal(
                "requests_in_flight", limits.requests_in_flight,
                f"at most {limits.requests_in_flight} requests of one party in the server at "
                "once (requests_in_flight); wait for an answer before sending more"),
            "server_ms_per_s": _refusal(
                "server_ms_per_s", limits.server_ms_per_s,
                f"this party's requests took more than {limits.server_ms_per_s} ms of server "
                "time a second while other parties were waiting (server_ms_per_s); try again "
                "after Retry-After seconds"),
            "streams_per_party": _refusal(
                "streams_per_party", limits.streams_per_party,
                f"this party already holds {limits.streams_per_party} open event streams "
                "(streams_per_party); close one, or poll GET /v1/events"),
        }
        self.streams_per_party = limits.streams_per_party

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = accept = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"accept":
                accept = value
        party = ANONYMOUS if authorization is None else await self._party(authorization)
        clock = self.line.clock
        refused = self.shares.admit(party, clock())
        if refused is not None:
            await self._refuse(self._bodies[str(refused.extensions["limit"])],
                               refused.retry_after_s, send)
            return
        if (accept is not None and scope["path"] == "/v1/events"
                and b"text/event-stream" in accept and self.line.live.presence.open_streams(
                    party) >= self.streams_per_party):
            # the stream would be refused anyway (service.events): say so before any parsing
            self.shares.release(party, 0.0, clock())
            await self._refuse(self._bodies["streams_per_party"], STREAM_RETRY_AFTER_S, send)
            return
        meter = self.meter
        mark = meter.enter(_cpu())
        if scope["path"] != "/v1/events":
            try:
                await self.app(scope, receive, send)
            finally:
                self.shares.release(party, meter.leave(mark, _cpu()), clock())
            return
        held = [True]  # an event stream is charged for its opening, when its response starts

        async def sending(message: Message) -> None:
            if held[0] and message["type"] == "http.response.start":
                held[0] = False
                self.shares.release(party, meter.leave(mark, _cpu()), clock())
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if held[0]:
                self.shares.release(party, meter.leave(mark, _cpu()), clock())

    async def _party(self, authorization: bytes) -> str:
        """Whom a request with this Authorization value is charged to (`ANONYMOUS` if no
        party holds its token)."""
        cached = self._parties.get(authorization)
        if cached is not None:
            return cached
        now = self.line.clock()
        if self._unknown.get(authorization, now) > now:
            return ANONYMOUS
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        name = None
        if scheme.lower() == "bearer" and token.strip():
            try:
                name = (await authenticate(self.line, token.strip())).name
            except Unauthenticated:
                name = None
        if name is None:
            if len(self._unknown) >= CACHE_ENTRIES:
                self._unknown.clear()
            self._unknown[authorization] = now + UNKNOWN_FOR_S
            return ANONYMOUS
        if len(self._parties) >= CACHE_ENTRIES:
            self._parties.clear()
        self._parties[authorization] = name
        return name

    async def _refuse(self, body: bytes, retry_after_s: float, send: Send) -> None:
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            # RFC 9110 §10.2.3: whole seconds
            (b"retry-after", str(max(1, math.ceil(retry_after_s))).encode())]})
        await send({"type": "http.response.body", "body": body})

