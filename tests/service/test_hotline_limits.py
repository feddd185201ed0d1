"""The hotline's and the line's per-party limits through the service with a fake clock, on a
real store (both backends): a broadcast counted once per recipient toward
``messages_per_minute`` and refused whole; a reply made again to the same message counted (a
first reply never); ``unanswered_per_recipient`` bounding what one sender makes the line
escalate; ``link_tests_per_minute`` and ``settings_per_minute``; aircraft registered one by one
counted toward ``new_aircraft_per_minute``; ``declarations_per_minute`` for operations and
constraints. Each: allowed up to the limit,
the next refused naming the limit with a Retry-After, nothing stored or told, allowed again
once the bucket refills (or a reply frees room).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest

from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.limits import Limits
from deconfliction.model.link import PartyStatus
from deconfliction.model.message import BROADCAST, ReplyKind, Urgency
from deconfliction.model.party import Party, Role
from deconfliction.model.track import Aircraft
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import constraints, hotline, link, operations, tracks, webhooks
from deconfliction.service.errors import NotFound, RateLimited
from deconfliction.service.line import REPLY_DEADLINES_S, Line
from deconfliction.service.unanswered import Unanswered
from support.service_level import T0, FakeClock, add_parties, events

pytestmark = pytest.mark.anyio


def _limited(line: Line, **limits: int) -> Line:
    return replace(line, settings=replace(line.settings, limits=Limits(**limits)))


async def _parties(line: Line) -> dict[str, Party]:
    """Three parties that take traffic besides blue, and an observer."""
    return await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                             green=Role.OPERATOR, mission=Role.AUTHORITY, watch=Role.OBSERVER)


async def _send(line: Line, sender: Party, to: str, now: float,
                urgency: Urgency = Urgency.ROUTINE) -> list[str]:
    """Send one message; the names of its recipients."""
    sent = await hotline.send_message(line, sender, to=to, urgency=urgency, subject="s",
                                      body="", refs=[], now=now)
    return [r.party for r in sent.value[1]]


async def _message_count(line: Line) -> int:
    return len(await line.store.interact(lambda repo: repo.messages(party=None, limit=1000)))


def _refused(refused: pytest.ExceptionInfo[RateLimited], limit: str, value: int) -> float:
    assert refused.value.extensions == {"limit": limit, "value": value}
    assert refused.value.retry_after_s >= 1.0
    return refused.value.retry_after_s


async def test_a_broadcast_counts_once_per_recipient_and_is_refused_whole(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, messages_per_minute=6)  # one every 10 s
    who = await _parties(line)
    assert await _send(line, who["blue"], BROADCAST, T0) == ["green", "mission", "red"]
    await _send(line, who["blue"], "red", T0)  # 4 of 6 spent
    stored, told = await _message_count(line), len(await events(line, "green"))
    with pytest.raises(RateLimited) as refused:  # 3 more: over
        await _send(line, who["blue"], BROADCAST, T0)
    assert _refused(refused, "messages_per_minute", 6) == pytest.approx(10.0)
    assert await _message_count(line) == stored, "a refused broadcast stores nothing"
    assert len(await events(line, "green")) == told
    assert len(await events(line, "blue", "message.sent")) == 2
    # others have their own allowance
    assert await _send(line, who["red"], BROADCAST, T0) == ["blue", "green", "mission"]
    # refilled: a broadcast to three again
    assert len(await _send(line, who["blue"], BROADCAST, clock.at(30))) == 3


async def test_a_first_reply_is_never_limited_a_reply_again_counts(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, messages_per_minute=3)
    who = await _parties(line)
    ids = [(await hotline.send_message(line, who["blue"], to="red", urgency=Urgency.DISTRESS,
                                       subject="s", body="", refs=[], now=T0)).value[0].id
           for _ in range(3)]
    for _ in range(3):  # red's own allowance spent on messages
        await _send(line, who["red"], "blue", T0)
    for m in ids:  # first replies: never refused
        await hotline.reply(line, who["red"], m, ReplyKind.STANDBY, None, T0 + 1)
    with pytest.raises(RateLimited) as refused:  # a reply again to the same message
        await hotline.reply(line, who["red"], ids[0], ReplyKind.UNABLE, None, T0 + 1)
    _refused(refused, "messages_per_minute", 3)
    kept = await line.store.interact(lambda repo: repo.recipient(ids[0], "red"))
    assert kept is not None and kept.reply is ReplyKind.STANDBY, "nothing stored"
    assert len(await events(line, "blue", "message.replied")) == 3, "nobody told"
    answered = await hotline.reply(line, who["red"], ids[0], ReplyKind.UNABLE, None,
                                   clock.at(21))  # 20 s refill one
    assert answered.value.reply is ReplyKind.UNABLE


async def test_unanswered_per_recipient_bounds_what_one_sender_escalates(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, unanswered_per_recipient=2)
    who = await _parties(line)
    distress = REPLY_DEADLINES_S[Urgency.DISTRESS]
    first = [(await hotline.send_message(line, who["blue"], to="red", urgency=Urgency.DISTRESS,
                                         subject="s", body="", refs=[], now=T0)).value[0].id
             for _ in range(2)]
    stored = await _message_count(line)
    with pytest.raises(RateLimited) as refused:
        await _send(line, who["blue"], "red", T0, Urgency.DISTRESS)
    assert _refused(refused, "unanswered_per_recipient", 2) == distress
    assert "red" in str(refused.value)
    assert await _message_count(line) == stored, "nothing stored"
    assert len(await events(line, "red", "message.received")) == 2
    # a broadcast leaves red out and reaches the others; another sender is not held back
    assert await _send(line, who["blue"], BROADCAST, T0) == ["green", "mission"]
    assert await _send(line, who["green"], "red", T0) == ["red"]
    # whatever blue tries, the line escalates two of its messages to red a deadline
    for _ in range(5):
        with pytest.raises(RateLimited):
            await _send(line, who["blue"], "red", T0 + 1, Urgency.DISTRESS)
    assert await hotline.escalate_due(line, clock.at(distress)) == 2  # the routine ones later
    assert await hotline.escalate_due(line, clock.at(2 * distress)) == 2
    told = [e for e in await events(line, "watch", "message.escalated", **{"from": "blue"})
            if e.data["party"] == "red"]
    assert len(told) == 4
    # standby is no answer; a final reply makes room for one more
    await hotline.reply(line, who["red"], first[0], ReplyKind.STANDBY, None, clock.at(61))
    with pytest.raises(RateLimited):
        await _send(line, who["blue"], "red", clock.at(62))
    await hotline.reply(line, who["red"], first[0], ReplyKind.WILL_COMPLY, None, clock.at(63))
    assert await _send(line, who["blue"], "red", clock.at(64)) == ["red"]
    with pytest.raises(RateLimited):
        await _send(line, who["blue"], "red", clock.at(65))


async def test_unanswered_are_counted_in_the_store_when_this_process_has_not_seen_them(
        line: Line, clock: FakeClock) -> None:
    """A restarted process (or another one) knows none of the unanswered messages: it lets at
    most the limit more through, then counts them in the store and refuses."""
    line = _limited(line, unanswered_per_recipient=2)
    who = await _parties(line)
    for _ in range(2):
        await _send(line, who["blue"], "red", T0)
    restarted = replace(line, unanswered=Unanswered())
    for _ in range(2):
        await _send(restarted, who["blue"], "red", clock.at(1))
    with pytest.raises(RateLimited) as refused:
        await _send(restarted, who["blue"], "red", clock.at(2))
    _refused(refused, "unanswered_per_recipient", 2)
    # and a count that ran high (a reply taken by another process) is put right the same way
    mine = await hotline.list_messages(restarted, who["red"], limit=10, now=clock.at(3))
    for thread in mine:
        await hotline.reply(line, who["red"], thread[0].id, ReplyKind.ACKNOWLEDGED, None,
                            clock.at(3))
    assert await _send(restarted, who["blue"], "red", clock.at(5)) == ["red"]


async def test_link_tests_per_minute(line: Line, clock: FakeClock) -> None:
    line = _limited(line, link_tests_per_minute=2)
    who = await _parties(line)
    for _ in range(2):
        await link.send_link_test(line, who["blue"], T0)
    latest = await line.store.interact(lambda repo: repo.latest_link_test())
    with pytest.raises(RateLimited) as refused:
        await link.send_link_test(line, who["blue"], T0 + 1)
    assert _refused(refused, "link_tests_per_minute", 2) == pytest.approx(29.0)
    assert await line.store.interact(lambda repo: repo.latest_link_test()) == latest
    assert len(await events(line, "red", "line.test")) == 2, "nobody told"
    await link.send_link_test(line, who["red"], T0 + 1)  # red's own allowance
    await link.send_link_test(line, who["blue"], clock.at(30))  # refilled one
    assert len(await events(line, "green", "line.test")) == 4


async def _loopback(host: str, port: int) -> list[IPv4Address | IPv6Address]:  # noqa: ARG001
    return [ip_address("127.0.0.1")]


async def test_settings_per_minute_status_contacts_and_webhook(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, settings_per_minute=3)
    line = replace(line, resolve=_loopback, settings=replace(
        line.settings, webhook_allow=(ip_network("127.0.0.1/32"),)))
    who = await _parties(line)
    await link.set_status(line, who["blue"], PartyStatus.TALKS_SUSPENDED, T0)
    await hotline.set_escalation_contacts(line, who["blue"], ["mission"], T0)
    await webhooks.set_webhook(line, who["blue"], "http://hooks.test/a", "s" * 32, T0)
    told = len(await events(line, "red", "party.status"))
    for change in (
            link.set_status(line, who["blue"], PartyStatus.NORMAL, T0 + 1),
            hotline.set_escalation_contacts(line, who["blue"], [], T0 + 1),
            webhooks.set_webhook(line, who["blue"], "http://hooks.test/b", "s" * 32, T0 + 1),
            webhooks.remove_webhook(line, who["blue"], T0 + 1)):
        with pytest.raises(RateLimited) as refused:
            await change
        assert _refused(refused, "settings_per_minute", 3) == pytest.approx(19.0)
    assert (await hotline.escalation_contacts(line, who["blue"])).contacts == ("mission",)
    assert (await webhooks.get_webhook(line, who["blue"])).webhook.url == "http://hooks.test/a"
    assert len(await events(line, "red", "party.status")) == told, "nobody told"
    states = {e.party.name: e.link.status for e in (await link.line_state(line)).entries}
    assert states["blue"] is PartyStatus.TALKS_SUSPENDED
    await link.set_status(line, who["red"], PartyStatus.NORMAL, T0 + 1)  # red's own
    await webhooks.remove_webhook(line, who["blue"], clock.at(20))  # refilled one
    with pytest.raises(NotFound):
        await webhooks.get_webhook(line, who["blue"])


async def test_registering_new_aircraft_counts_toward_new_aircraft_per_minute(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, new_aircraft_per_minute=2)
    who = await _parties(line)

    async def registered() -> set[str]:
        found = await line.store.interact(lambda repo: repo.aircraft(party="blue"))
        return {a.id for a in found}

    for k in range(2):
        await tracks.register_aircraft(line, who["blue"], Aircraft(f"b{k}", "blue"))
    with pytest.raises(RateLimited) as refused:
        await tracks.register_aircraft(line, who["blue"], Aircraft("b2", "blue"))
    assert _refused(refused, "new_aircraft_per_minute", 2) == pytest.approx(30.0)
    assert await registered() == {"b0", "b1"}
    # an update of a known aircraft is no new one; another party has its own allowance
    await tracks.register_aircraft(line, who["blue"], Aircraft("b0", "blue", None, "BLUE 0"))
    await tracks.register_aircraft(line, who["red"], Aircraft("b2", "red"))
    clock.at(30)
    await tracks.register_aircraft(line, who["blue"], Aircraft("b2", "blue"))
    assert await registered() == {"b0", "b1", "b2"}


async def test_declarations_per_minute_operations_and_constraints(
        line: Line, clock: FakeClock) -> None:
    line = _limited(line, declarations_per_minute=2)
    who = await _parties(line)
    volume = Volume(CircleFootprint((37.0, 36.0), 1000.0), 0.0, 100.0, T0 + 3600, T0 + 7200)
    declare = operations.DeclareOperation(volumes=(volume,))

    async def live() -> int:
        return len(await line.store.interact(lambda repo: repo.operations()))

    first = (await operations.declare_operation(line, who["blue"], declare, T0)).operation
    await operations.declare_operation(line, who["blue"], declare, T0)
    for change in (operations.declare_operation(line, who["blue"], declare, T0 + 1),
                   operations.end_operation(line, who["blue"], first.id, first.ovn, T0 + 1)):
        with pytest.raises(RateLimited) as refused:
            await change
        assert _refused(refused, "declarations_per_minute", 2) == pytest.approx(29.0)
    assert await live() == 2, "nothing stored, nothing ended"
    await operations.check_operation(line, who["blue"], declare, T0 + 1)  # a dry run is free
    elsewhere = replace(volume, footprint=CircleFootprint((40.0, 36.0), 1000.0))
    await operations.declare_operation(line, who["red"], operations.DeclareOperation(
        volumes=(elsewhere,)), T0 + 1)  # red's own allowance
    await operations.end_operation(line, who["blue"], first.id, first.ovn, clock.at(30))
    assert await live() == 2  # blue's second, red's
    # an authority's constraints: each told to every party
    closed = constraints.PublishConstraint(ConstraintKind.NO_FLY, (volume,), name="zone")
    zone = await constraints.publish_constraint(line, who["mission"], closed, T0)
    await constraints.withdraw_constraint(line, who["mission"], zone.value.id, zone.value.ovn,
                                          T0)
    told = len(await events(line, "red"))
    with pytest.raises(RateLimited) as refused:
        await constraints.publish_constraint(line, who["mission"], closed, T0 + 1)
    _refused(refused, "declarations_per_minute", 2)
    assert len(await events(line, "red")) == told, "nobody told"
