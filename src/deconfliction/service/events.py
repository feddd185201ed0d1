"""A party's event stream: read a page (JSON polling) or follow it live (SSE).

Events are appended in the same transaction as the change they report, with a gap-free
sequence number per party; a reader that resumes after the last number it saw gets everything
it missed, in order, exactly once by sequence. Handing ``message.received`` events to the
party's client is the message's delivery: it records the receipt.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator

from deconfliction.model.event import Event
from deconfliction.model.party import Party
from deconfliction.service.errors import FieldError, RateLimited, ValidationFailed
from deconfliction.service.hotline import record_receipts
from deconfliction.service.line import Line
from deconfliction.service.live import REVOKED, Subscription
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

MAX_EVENTS_PER_READ = 1000
MAX_SEQ = 2**63 - 1  # the largest sequence number both backends store (a signed 64-bit integer)
CURSOR = re.compile(r"[0-9]{1,19}")  # ASCII digits only: no sign, space, point or other script
STREAM_RETRY_AFTER_S = 5.0  # a party over its stream cap may try again after this


def parse_cursor(text: str, field: str = "after") -> int:
    """A stream position (``after`` or ``Last-Event-ID``): a sequence number written in ASCII
    digits, 0..2⁶³-1. Anything else — a sign, spaces, a point, digits of another script
    ('١٢'), a number too large to store — is a 400 naming the field, before any stream starts.

    >>> parse_cursor("42")
    42
    >>> parse_cursor("١٢")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    deconfliction.service.errors.ValidationFailed: after: must be a sequence number: ...
    """
    if CURSOR.fullmatch(text) is None or int(text) > MAX_SEQ:
        raise ValidationFailed([FieldError(
            field, f"must be a sequence number: ASCII digits, 0 to {MAX_SEQ}")])
    return int(text)


def _check_after(after: int, field: str = "after") -> None:
    if not 0 <= after <= MAX_SEQ:
        raise ValidationFailed([FieldError(field, f"must be 0 to {MAX_SEQ}")])


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


def _continuing(pushed: list[Event], last: int) -> list[Event] | None:
    """The pushed events after ``last`` if they continue it without a gap (else ``None``)."""
    fresh = [e for e in pushed if e.seq > last]
    if fresh and all(e.seq == last + 1 + i for i, e in enumerate(fresh)):
        return fresh
    return None if fresh else []


class EventStream:
    """One open stream of a party's events (SSE): the batches to send, and ``cut``, set when
    it must end at once — its client stopped reading and its send buffer filled
    (``too_slow``: the client resumes with ``Last-Event-ID`` and loses nothing), or its party
    was revoked (``revoked``). Opening one takes one of the party's stream slots
    (``streams_per_party``, a 429 past it); :meth:`close` gives it back."""

    def __init__(self, line: Line, party: Party, after: int) -> None:
        limits = line.settings.limits
        presence = line.live.presence
        if presence.open_streams(party.name) >= limits.streams_per_party:
            raise RateLimited(
                f"{party.name} already holds {limits.streams_per_party} open event streams "
                "(streams_per_party); close one, or poll GET /v1/events",
                limit="streams_per_party", value=limits.streams_per_party,
                retry_after_s=STREAM_RETRY_AFTER_S)
        _check_after(after)
        self._line = line
        self._party = party
        self._last = after
        self.mailbox: Subscription = line.live.notifier.open(party.name,
                                                             limits.stream_buffer_events)
        presence.opened(party.name, line.clock())
        self._open = True
        _watch(line)

    @property
    def cut(self) -> asyncio.Event:
        return self.mailbox.cut

    @property
    def cut_reason(self) -> str | None:
        return self.mailbox.cut_reason

    def close(self) -> None:
        """Give the stream's slot and mailbox back (idempotent)."""
        if self._open:
            self._open = False
            self._line.live.notifier.close(self._party.name, self.mailbox)
            self._line.live.presence.closed(self._party.name, self._line.clock())

    async def batches(self) -> AsyncIterator[list[Event]]:
        """The party's events after the stream's position as they are committed, at most a
        send buffer's worth per batch; an empty batch when nothing was sent for the heartbeat
        interval. Ends when the stream is cut."""
        line, name, mailbox = self._line, self._party.name, self.mailbox
        presence = line.live.presence
        page = min(MAX_EVENTS_PER_READ, line.settings.limits.stream_buffer_events)
        quiet_since = time.monotonic()
        must_read = True  # at the start, and after a full page
        while not mailbox.cut.is_set():
            mailbox.flag.clear()  # before the read: a commit after it sets the flag again
            pushed = mailbox.take()
            found = None if pushed is None or must_read else _continuing(pushed, self._last)
            if found is None:  # the database is the truth: read what follows the position
                after = self._last

                async def read(repo: Repository, after: int = after) -> list[Event]:
                    return await repo.events(name, after=after, limit=page)

                found = await line.store.interact(read)
                must_read = len(found) == page
            if found:
                self._last = found[-1].seq
                mailbox.at_client = True  # a mailbox that fills while this is sent is cut
                yield found
                mailbox.at_client = False
                quiet_since = time.monotonic()
                now = line.clock()
                presence.seen(name, now)
                await delivered(line, self._party, presence.first_handed(name, found), now)
                continue
            beat_in = quiet_since + line.settings.heartbeat_s - time.monotonic()
            if beat_in <= 0:
                mailbox.at_client = True
                yield []
                mailbox.at_client = False
                quiet_since = time.monotonic()
                presence.seen(name, line.clock())
                continue
            try:  # the stream watch wakes it for other processes' events and revocation
                await asyncio.wait_for(mailbox.flag.wait(), beat_in)
            except TimeoutError:
                pass


def open_stream(line: Line, party: Party, *, after: int) -> EventStream:
    """Open a stream of ``party``'s events after ``after`` (:class:`RateLimited` past the
    party's stream cap)."""
    return EventStream(line, party, after)


def _watch(line: Line) -> None:
    """Start this process's stream watch unless it runs (it ends when no stream is open)."""
    live = line.live
    if live.watch is None or live.watch.done():
        live.watch = asyncio.get_running_loop().create_task(_run_watch(line),
                                                            name="stream-watch")


async def _run_watch(line: Line) -> None:
    """Every poll interval, for the parties followed in this process: cut the streams of a
    party revoked meanwhile (``party revoke`` runs in another process), and wake the streams
    of a party whose stream grew without this process being told (another process's
    commit). One read per followed party, not one per stream: idle streams cost nothing
    between events."""

    async def heads(parties: list[str]) -> dict[str, tuple[bool, int]]:
        async def read(repo: Repository) -> dict[str, tuple[bool, int]]:
            out = {}
            for name in parties:
                party = await repo.party(name)
                out[name] = (party is not None and party.active, await repo.last_seq(name))
            return out
        return await line.store.interact(read)

    notifier = line.live.notifier
    while followed := notifier.followed():
        try:
            found = await heads(list(followed))
        except Exception:
            log.exception("stream watch: reading the streams' heads failed")
            found = {}
        for name, (active, last) in found.items():
            if not active:
                notifier.cut(name, REVOKED)
            elif last > followed[name]:
                notifier.must_read(name, last)
        await asyncio.sleep(line.settings.stream_poll_s)
