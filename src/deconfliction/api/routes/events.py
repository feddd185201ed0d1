"""/v1/events: a party's ordered, durable stream — Server-Sent Events or JSON polling.

The same path serves both: ``Accept: text/event-stream`` gets SSE (``id:`` the sequence
number, ``event:`` the kind, ``data:`` the event as JSON, and a ``: heartbeat`` comment after
every quiet heartbeat interval); anything else gets one JSON page ``{"events": [...]}``.
An SSE client resumes with ``Last-Event-ID`` (as browsers do) or ``?after=N``.

A party holds at most ``streams_per_party`` streams at once (a 429 past it). A stream whose
client stops reading is dropped when its send buffer fills (the connection is cut; the client
resumes with ``Last-Event-ID`` and loses nothing), and a revoked party's streams end at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.server import abort_connection
from deconfliction.api.views import event_view
from deconfliction.model import fastjson
from deconfliction.model.event import Event
from deconfliction.service import events
from deconfliction.service.live import TOO_SLOW

router = APIRouter(prefix="/v1", tags=["events"])

EVENT_STREAM = "text/event-stream"
RECONNECT_MS = 1000  # the SSE ``retry:`` a client waits before reconnecting
LAST_WORDS_S = 1.0  # how long a stream cut for revocation may take to say so and end
CURSOR_SCHEMA = {"type": "string", "pattern": f"^{events.CURSOR.pattern}$"}


def sse(e: Event) -> str:
    """One event in the SSE wire format (WHATWG HTML, "Server-sent events")."""
    return f"id: {e.seq}\nevent: {e.kind}\ndata: {fastjson.dumps_text(event_view(e))}\n\n"


async def _frames(batches: AsyncIterator[list[Event]]) -> AsyncGenerator[str, None]:
    yield f"retry: {RECONNECT_MS}\n\n"
    async for batch in batches:
        yield "".join(sse(e) for e in batch) if batch else ": heartbeat\n\n"


class EventStreamResponse(StreamingResponse):
    """An SSE response that ends when its stream is cut: for a client too slow to read, the
    connection is cut at once (its send buffer is full, nothing more can be written); for a
    revoked party, a last comment says why and the response ends. The stream's slot is given
    back however the response ends."""

    def __init__(self, stream: events.EventStream) -> None:
        self.stream = stream
        self._frames = _frames(stream.batches())
        super().__init__(self._frames, media_type=EVENT_STREAM, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        try:
            sending = asyncio.ensure_future(self.stream_response(send))
            gone = asyncio.ensure_future(self.listen_for_disconnect(receive))
            cut = asyncio.ensure_future(stream.cut.wait())
            await asyncio.wait((sending, gone, cut), return_when=asyncio.FIRST_COMPLETED)
            for task in (sending, gone, cut):
                task.cancel()
            await asyncio.gather(sending, gone, cut, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._frames.aclose()
            if stream.cut.is_set() and not gone.done():
                await self._end(scope, send, stream.cut_reason or TOO_SLOW)
            elif not sending.cancelled() and (error := sending.exception()) is not None:
                raise error
        finally:
            stream.close()

    async def _end(self, scope: Scope, send: Send, reason: str) -> None:
        if reason != TOO_SLOW:
            try:
                await asyncio.wait_for(send({"type": "http.response.body", "more_body": False,
                                             "body": f": closed: {reason}\n\n".encode()}),
                                       LAST_WORDS_S)
                return
            except TimeoutError:
                pass
        abort_connection(scope)


@router.get(
    "/events",
    summary="Your events after a sequence number: SSE with Accept: text/event-stream, "
    "else a JSON page",
    responses={200: {"content": {EVENT_STREAM: {}}}},
)
async def read(
    request: Request,
    party: CurrentParty,
    line: LineDep,
    after: Annotated[str, Query(json_schema_extra=CURSOR_SCHEMA)] = "0",
    limit: Annotated[int, Query()] = 100,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                json_schema_extra=CURSOR_SCHEMA)] = None,
) -> Any:
    if EVENT_STREAM in request.headers.get("accept", ""):
        if last_event_id is not None:
            position = events.parse_cursor(last_event_id, "Last-Event-ID")
        else:
            position = events.parse_cursor(after, "after")
        return EventStreamResponse(events.open_stream(line, party, after=position))
    found = await events.read_events(line, party, after=events.parse_cursor(after, "after"),
                                     limit=limit, now=line.clock())
    return {"events": [event_view(e) for e in found]}
