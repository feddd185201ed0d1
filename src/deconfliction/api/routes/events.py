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
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.server import abort_connection, limit_send_buffer
from deconfliction.api.views import event_view
from deconfliction.model import fastjson
from deconfliction.model.event import Event
from deconfliction.service import events
from deconfliction.service.live import TOO_SLOW

router = APIRouter(prefix="/v1", tags=["events"])

EVENT_STREAM = "text/event-stream"
RECONNECT_MS = 1000  # the SSE ``retry:`` a client waits before reconnecting
LAST_WORDS_S = 1.0  # how long a stream cut for revocation may take to say so and end
SOCKET_BUFFER_BYTES = 64 * 1024  # unsent bytes a stream's connection may hold, process and
# kernel each (events are a few hundred bytes: a client that reads keeps it nearly empty)
CURSOR_SCHEMA = {"type": "string", "pattern": f"^{events.CURSOR.pattern}$"}


def sse(e: Event) -> str:
    """One event in the SSE wire format (WHATWG HTML, "Server-sent events")."""
    return f"id: {e.seq}\nevent: {e.kind}\ndata: {fastjson.dumps_text(event_view(e))}\n\n"


async def _frames(stream: events.EventStream) -> AsyncGenerator[str, None]:
    yield f"retry: {RECONNECT_MS}\n\n"
    async for batch in stream.batches():
        yield "".join(sse(e) for e in batch) if batch else ": heartbeat\n\n"
    yield f": closed: {stream.cut_reason}\n\n"  # it ends only when cut


class EventStreamResponse(StreamingResponse):
    """An SSE response that ends when its stream is cut: for a client too slow to read, the
    connection is cut at once (its send buffer is full, nothing more can be written); for a
    revoked party, a last comment says why and the response ends. The stream's slot is given
    back however the response ends."""

    def __init__(self, stream: events.EventStream) -> None:
        self.stream = stream
        self._frames = _frames(stream)
        super().__init__(self._frames, media_type=EVENT_STREAM, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        complete = False

        async def noted(message: Message) -> None:
            nonlocal complete
            await send(message)
            complete = complete or (message["type"] == "http.response.body"
                                    and not message.get("more_body", False))

        try:
            limit_send_buffer(scope, SOCKET_BUFFER_BYTES)
            sending = asyncio.ensure_future(self.stream_response(noted))
            gone = asyncio.ensure_future(self.listen_for_disconnect(receive))
            cut = asyncio.ensure_future(stream.cut.wait())
            await asyncio.wait((sending, gone, cut), return_when=asyncio.FIRST_COMPLETED)
            disconnected, ended = gone.done(), sending.done()
            for task in (sending, gone, cut):
                task.cancel()
            await asyncio.gather(sending, gone, cut, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._frames.aclose()
            if ended:  # the stream ended (cut while not sending) and the response with it
                if (error := sending.exception()) is not None:
                    raise error
            elif stream.cut.is_set() and not disconnected and not complete:  # cut mid-send
                await self._end(scope, receive, send, stream.cut_reason or TOO_SLOW)
        finally:
            stream.close()

    async def _end(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        if reason != TOO_SLOW:
            try:
                await asyncio.wait_for(send({"type": "http.response.body", "more_body": False,
                                             "body": f": closed: {reason}\n\n".encode()}),
                                       LAST_WORDS_S)
                return
            except TimeoutError:
                pass
        abort_connection(scope)
        with contextlib.suppress(TimeoutError):  # the server notes the connection gone
            await asyncio.wait_for(self.listen_for_disconnect(receive), LAST_WORDS_S)


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
    # a full page may have more after it: its last sequence number is the next page's `after`
    return {"events": [event_view(e) for e in found],
            "next": str(found[-1].seq) if found and len(found) >= limit else None}
