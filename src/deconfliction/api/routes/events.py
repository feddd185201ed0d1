"""/v1/events: a party's ordered, durable stream — Server-Sent Events or JSON polling.

The same path serves both: ``Accept: text/event-stream`` gets SSE (``id:`` the sequence
number, ``event:`` the kind, ``data:`` the event as JSON, and a ``: heartbeat`` comment after
every quiet heartbeat interval); anything else gets one JSON page ``{"events": [...]}``.
An SSE client resumes with ``Last-Event-ID`` (as browsers do) or ``?after=N``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.views import event_view
from deconfliction.model import fastjson
from deconfliction.model.event import Event
from deconfliction.service import events
from deconfliction.service.errors import FieldError, ValidationFailed

router = APIRouter(prefix="/v1", tags=["events"])

EVENT_STREAM = "text/event-stream"
RECONNECT_MS = 1000  # the SSE ``retry:`` a client waits before reconnecting


def sse(e: Event) -> str:
    """One event in the SSE wire format (WHATWG HTML, "Server-sent events")."""
    return f"id: {e.seq}\nevent: {e.kind}\ndata: {fastjson.dumps_text(event_view(e))}\n\n"


async def _frames(batches: AsyncIterator[list[Event]]) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    async for batch in batches:
        yield "".join(sse(e) for e in batch) if batch else ": heartbeat\n\n"


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
    after: Annotated[int, Query()] = 0,
    limit: Annotated[int, Query()] = 100,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Any:
    if EVENT_STREAM in request.headers.get("accept", ""):
        field = "after"
        if last_event_id is not None:
            field = "Last-Event-ID"
            if not last_event_id.strip().isdigit():
                raise ValidationFailed([FieldError(field, "must be a sequence number")])
            after = int(last_event_id)
        batches = events.follow(line, party, after=after, field=field)
        return StreamingResponse(_frames(batches), media_type=EVENT_STREAM, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    found = await events.read_events(line, party, after=after, limit=limit, now=line.clock())
    return {"events": [event_view(e) for e in found]}
