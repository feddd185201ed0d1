"""A party's event stream: read a page (JSON polling) or follow it live (SSE).

Events are appended in the same transaction as the change they report, with a gap-free
sequence number per party; a reader that resumes after the last number it saw gets everything
it missed, in order, exactly once by sequence. Handing ``message.received`` events to the
party's client is the message's delivery: it records the receipt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from deconfliction.model.event import Event
from deconfliction.model.party import Party
from deconfliction.service.errors import FieldError, ValidationFailed
from deconfliction.service.hotline import record_receipts
from deconfliction.service.line import Line

MAX_EVENTS_PER_READ = 1000


def _check_after(after: int, field: str = "after") -> None:
    if after < 0:
        raise ValidationFailed([FieldError(field, "must be 0 or more")])


async def delivered(line: Line, party: Party, found: list[Event], now: float) -> None:
    """These events reached ``party``'s client: record receipts of the messages among them."""
    await record_receipts(line, party, {e.data["id"]: e.data["from"] for e in found
                                        if e.kind == "message.received"}, now)


async def read_events(
    line: Line, party: Party, *, after: int, limit: int, now: float
) -> list[Event]:
    """The party's events with a sequence number above ``after``, in order."""
    _check_after(after)
    if not 1 <= limit <= MAX_EVENTS_PER_READ:
        raise ValidationFailed([FieldError("limit", f"must be 1..{MAX_EVENTS_PER_READ}")])
    found = await line.store.interact(
        lambda repo: repo.events(party.name, after=after, limit=limit))
    await delivered(line, party, found, now)
    line.live.presence.seen(party.name, now)
    return found


def follow(
    line: Line, party: Party, *, after: int, field: str = "after"
) -> AsyncIterator[list[Event]]:
    """The party's events above ``after`` as they are committed, batch by batch; an empty
    batch when nothing was sent for the heartbeat interval. Runs until the caller stops."""
    _check_after(after, field)
    return _follow(line, party, after)


def _continuing(pushed: list[Event], last: int) -> list[Event] | None:
    """The pushed events after ``last`` if they continue it without a gap (else ``None``)."""
    fresh = [e for e in pushed if e.seq > last]
    if fresh and all(e.seq == last + 1 + i for i, e in enumerate(fresh)):
        return fresh
    return None if fresh else []


async def _follow(line: Line, party: Party, after: int) -> AsyncIterator[list[Event]]:
    settings = line.settings
    presence = line.live.presence
    last = after
    quiet_since = time.monotonic()
    presence.opened(party.name, line.clock())
    must_read = True  # at the start, after a poll interval, after a full page
    try:
        with line.live.notifier.subscribe(party.name) as mailbox:
            while True:
                mailbox.flag.clear()  # before the read: a commit after it sets the flag again
                pushed = mailbox.take()
                found = None if pushed is None or must_read else _continuing(pushed, last)
                if found is None:  # the database is the truth: read what follows ``last``
                    found = await line.store.interact(
                        lambda repo, after=last: repo.events(party.name, after=after,
                                                             limit=MAX_EVENTS_PER_READ))
                    must_read = len(found) == MAX_EVENTS_PER_READ
                if found:
                    last = found[-1].seq
                    yield found
                    quiet_since = time.monotonic()
                    now = line.clock()
                    presence.seen(party.name, now)
                    await delivered(line, party, found, now)
                    continue
                beat_in = quiet_since + settings.heartbeat_s - time.monotonic()
                if beat_in <= 0:
                    yield []
                    quiet_since = time.monotonic()
                    presence.seen(party.name, line.clock())
                    continue
                try:
                    await asyncio.wait_for(mailbox.flag.wait(),
                                           min(settings.stream_poll_s, beat_in))
                except TimeoutError:
                    must_read = True  # the poll catches events committed by other processes
    finally:
        presence.closed(party.name, line.clock())
