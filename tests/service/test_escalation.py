"""Hotline escalation with the line's real deadlines (distress 30 s, urgent 60 s, routine 10 min:
DESIGN.md, Numbers) driven by a fake clock through the service, on a real store, both backends.

Who is told (sender, recipient, the recipient's escalation contacts, observers; nobody else),
that escalation repeats every deadline until a final reply, that ``standby`` holds it off for one
more deadline, and that it stops for good after a final reply. The end-to-end suite keeps one
smoke path (test_e2e_hotline.py::test_escalation_reaches_contacts_until_reply, one escalation
through a server with a 1 s deadline).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from deconfliction.model.limits import Limits
from deconfliction.model.message import ReplyKind, Urgency
from deconfliction.model.party import Role
from deconfliction.service import hotline, parties
from deconfliction.service.line import REPLY_DEADLINES_S, Line
from support.service_level import T0, FakeClock, add_parties, events

pytestmark = pytest.mark.anyio

EPS = 1e-3  # a pass a millisecond after the deadline


async def _setup(line: Line):
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                            mission=Role.AUTHORITY, green=Role.OPERATOR, watch=Role.OBSERVER)
    await hotline.set_escalation_contacts(line, who["red"], ["mission"], T0)
    return who


async def _send(line: Line, who, urgency: Urgency, subject: str = "turn north now") -> str:
    sent = await hotline.send_message(line, who["blue"], to="red", urgency=urgency,
                                      subject=subject, body="", refs=[], now=T0)
    message, _recipients = sent.value
    return message.id


async def _escalated(line: Line, party: str, message_id: str) -> list[int]:
    return [e.data["escalation"] for e in await events(line, party, "message.escalated",
                                                       message_id=message_id)]


async def _recipient(line: Line, message_id: str):
    found = await line.store.interact(lambda repo: repo.recipient(message_id, "red"))
    assert found is not None
    return found


@pytest.mark.parametrize("urgency", list(Urgency))
async def test_escalation_at_the_deadline_then_every_deadline_until_a_reply(
        line: Line, clock: FakeClock, urgency: Urgency) -> None:
    who = await _setup(line)
    deadline = REPLY_DEADLINES_S[urgency]
    m = await _send(line, who, urgency)
    assert (await _recipient(line, m)).escalate_at == T0 + deadline

    assert await hotline.escalate_due(line, clock.at(deadline - EPS)) == 0
    assert await hotline.escalate_due(line, clock.at(deadline)) == 1  # due at the deadline
    assert await hotline.escalate_due(line, clock.at(deadline + EPS)) == 0  # once per deadline
    # told: the sender, the recipient (a reminder), its contacts and the observers; no one else
    for party in ("blue", "red", "mission", "watch"):
        assert await _escalated(line, party, m) == [1], party
    assert await _escalated(line, "green", m) == []
    (told,) = await events(line, "watch", "message.escalated", message_id=m)
    assert told.data["urgency"] == urgency.value and told.data["reply"] is None
    assert told.time == T0 + deadline

    # unanswered: again one deadline after the escalation
    assert await hotline.escalate_due(line, clock.at(2 * deadline - EPS)) == 0
    assert await hotline.escalate_due(line, clock.at(2 * deadline)) == 1
    assert await _escalated(line, "mission", m) == [1, 2]

    # a final reply stops it for good
    await hotline.reply(line, who["red"], m, ReplyKind.ACKNOWLEDGED, None,
                        clock.at(2 * deadline + 1))
    assert (await _recipient(line, m)).escalate_at is None
    assert await hotline.escalate_due(line, clock.at(50 * deadline)) == 0
    assert await _escalated(line, "watch", m) == [1, 2]
    assert (await _recipient(line, m)).escalations == 2


async def test_standby_holds_escalation_off_for_one_more_deadline(line, clock) -> None:
    who = await _setup(line)
    deadline = REPLY_DEADLINES_S[Urgency.URGENT]
    m = await _send(line, who, Urgency.URGENT, "confirm your track")
    await hotline.reply(line, who["red"], m, ReplyKind.STANDBY, "checking", clock.at(10.0))
    assert (await _recipient(line, m)).escalate_at == T0 + 10.0 + deadline
    # the original deadline passes quietly: standby is a reply
    assert await hotline.escalate_due(line, clock.at(deadline + 5.0)) == 0
    # ... but not a final one: one deadline after it, escalation resumes, saying "standby"
    assert await hotline.escalate_due(line, clock.at(10.0 + deadline)) == 1
    (told,) = await events(line, "watch", "message.escalated", message_id=m)
    assert told.data["reply"] == "standby"
    await hotline.reply(line, who["red"], m, ReplyKind.UNABLE, None, clock.at(80.0))
    assert await hotline.escalate_due(line, clock.at(10 * deadline)) == 0
    assert await _escalated(line, "blue", m) == [1]


async def test_a_revoked_contact_is_not_told_and_many_due_messages_escalate_in_one_pass(
        line, clock) -> None:
    # 30 unanswered from one sender: above the default unanswered_per_recipient (not the point)
    line = replace(line, settings=replace(line.settings, limits=Limits(
        unanswered_per_recipient=30)))
    who = await _setup(line)
    sent = [await _send(line, who, Urgency.DISTRESS, f"guard {k}") for k in range(30)]
    await parties.revoke_party(line, "mission", T0 + 1)
    assert await hotline.escalate_due(line, clock.at(REPLY_DEADLINES_S[Urgency.DISTRESS])) == 30
    for m in sent:
        assert await _escalated(line, "watch", m) == [1]
    assert not await events(line, "mission", "message.escalated")
