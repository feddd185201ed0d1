"""Event streams at the service level (real store, both backends; the live hub wired to it as
the app wires it): the per-party stream cap; a stream whose client stops reading is cut when
its mailbox fills, while a busy one that reads is not; revocation cuts a party's streams at
once — by ``revoke_party`` in this process, and through the stream watch when another process
revokes; receipts are recorded once per event however many streams hand it; cursors."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from deconfliction.model.event import Event
from deconfliction.model.limits import Limits
from deconfliction.model.message import Urgency
from deconfliction.model.party import Role
from deconfliction.service import events, hotline, parties
from deconfliction.service.errors import RateLimited, ValidationFailed
from deconfliction.service.line import Line, LineSettings
from deconfliction.service.live import Live, Presence
from support.service_level import T0, FakeClock, add_parties

pytestmark = pytest.mark.anyio

BOUND_S = 30.0  # a bound on waits for the stream watch, never a figure


def _line(store: Any, clock: FakeClock, **limits: Any) -> Line:
    # bursts of unanswered messages fill streams here: unanswered_per_recipient is not the point
    settings = LineSettings(heartbeat_s=3600.0, stream_poll_s=0.01,
                            limits=replace(Limits(unanswered_per_recipient=1000), **limits))
    line = Line(store, settings, clock=clock)
    store.on_commit(line.live.notifier.notify)
    return line


async def _send(line: Line, sender: Any, to: str, n: int) -> None:
    for k in range(n):
        await hotline.send_message(line, sender, to=to, urgency=Urgency.ROUTINE,
                                   subject=f"m{k}", body="", refs=[], now=line.clock())


async def test_a_party_holds_at_most_its_stream_cap(store, clock):
    line = _line(store, clock, streams_per_party=2)
    await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    red = await line.store.interact(lambda repo: repo.party("red"))
    held = [events.open_stream(line, blue, after=0) for _ in range(2)]
    with pytest.raises(RateLimited) as over:
        events.open_stream(line, blue, after=0)
    assert over.value.extensions == {"limit": "streams_per_party", "value": 2}
    assert over.value.retry_after_s > 0
    events.open_stream(line, red, after=0).close()  # another party is not affected
    held[0].close()
    held[0].close()  # closing twice gives back one slot only
    held.append(events.open_stream(line, blue, after=0))
    with pytest.raises(RateLimited):
        events.open_stream(line, blue, after=0)
    for stream in held:
        stream.close()
    assert line.live.presence.open_streams("blue") == 0


async def test_a_stream_whose_client_stops_reading_is_cut_when_its_mailbox_fills(store, clock):
    line = _line(store, clock, stream_buffer_events=4)
    await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    red = await line.store.interact(lambda repo: repo.party("red"))
    stream = events.open_stream(line, blue, after=0)
    batches = stream.batches()
    try:
        await _send(line, red, "blue", 1)
        first = await asyncio.wait_for(anext(batches), BOUND_S)
        assert [e.kind for e in first] == ["message.received"]
        # the batch is out with the client, which takes no more: four fit, the fifth cuts
        await _send(line, red, "blue", 4)
        assert not stream.cut.is_set()
        await _send(line, red, "blue", 1)
        assert stream.cut.is_set() and stream.cut_reason == "too_slow"
        assert len(stream.mailbox.pushed) == 0  # what it held is given back
    finally:
        await batches.aclose()
        stream.close()


async def test_a_busy_stream_that_reads_is_not_cut_and_misses_nothing(store, clock):
    line = _line(store, clock, stream_buffer_events=4)
    await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    red = await line.store.interact(lambda repo: repo.party("red"))
    stream = events.open_stream(line, blue, after=0)
    batches = stream.batches()
    got: list[Event] = []

    async def client() -> None:  # takes each batch as soon as it is handed over
        while len(got) < 30:
            got.extend(await anext(batches))

    try:
        reading = asyncio.ensure_future(client())
        await asyncio.sleep(0)
        await _send(line, red, "blue", 30)  # far more than its mailbox holds
        await asyncio.wait_for(reading, BOUND_S)
        assert [e.seq for e in got] == list(range(1, 31))
        assert not stream.cut.is_set()
    finally:
        await batches.aclose()
        stream.close()


async def test_revocation_in_this_process_cuts_the_party_s_streams(store, clock):
    line = _line(store, clock)
    await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    red = await line.store.interact(lambda repo: repo.party("red"))
    streams = [events.open_stream(line, blue, after=0), events.open_stream(line, red, after=0)]
    batches = streams[0].batches()
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0)
    await parties.revoke_party(line, "blue", T0)
    assert streams[0].cut.is_set() and streams[0].cut_reason == "revoked"
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, BOUND_S)  # the stream ends
    assert not streams[1].cut.is_set()
    for stream in streams:
        stream.close()


async def test_revocation_by_another_process_cuts_through_the_stream_watch(store, clock):
    line = _line(store, clock)
    await add_parties(line, blue=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    stream = events.open_stream(line, blue, after=0)
    elsewhere = replace(line, live=Live())  # `party revoke`: the same database, its own hub
    await parties.revoke_party(elsewhere, "blue", T0)
    try:
        await asyncio.wait_for(stream.cut.wait(), BOUND_S)
        assert stream.cut_reason == "revoked"
    finally:
        stream.close()


async def test_another_process_s_events_wake_the_stream(store, clock):
    line = _line(store, clock)
    await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue = await line.store.interact(lambda repo: repo.party("blue"))
    red = await line.store.interact(lambda repo: repo.party("red"))
    stream = events.open_stream(line, blue, after=0)
    batches = stream.batches()
    try:
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0)
        await _send(replace(line, live=Live()), red, "blue", 1)  # committed elsewhere
        got = await asyncio.wait_for(waiting, BOUND_S)
        assert [e.kind for e in got] == ["message.received"]
    finally:
        await batches.aclose()
        stream.close()


def test_receipts_are_recorded_once_per_event_however_many_streams_hand_it():
    presence = Presence()
    presence.opened("blue", T0)
    presence.opened("blue", T0)
    batch = [Event("blue", seq, "message.received", T0, {}) for seq in (1, 2, 3)]
    assert [e.seq for e in presence.first_handed("blue", batch)] == [1, 2, 3]
    assert presence.first_handed("blue", batch) == []  # the second stream, same events
    more = batch + [Event("blue", 4, "message.received", T0, {})]
    assert [e.seq for e in presence.first_handed("blue", more)] == [4]


@pytest.mark.parametrize("text", ["-1", "+1", " 1", "1 ", "1.0", "1e3", "0x1", "", "١٢", "²",
                                  "５", "9223372036854775808", "1_000"])
def test_a_malformed_cursor_is_refused(text):
    with pytest.raises(ValidationFailed) as refused:
        events.parse_cursor(text, "Last-Event-ID")
    assert [e.field for e in refused.value.errors] == ["Last-Event-ID"]


@pytest.mark.parametrize("text", ["0", "42", "007", "9223372036854775807"])
def test_a_cursor_is_ascii_digits_up_to_the_largest_stored_number(text):
    assert events.parse_cursor(text) == int(text)
