"""The hotline: messages between parties, receipts, replies and escalation.

A message goes to one party or to ``"all"`` (every active operator and authority but the
sender; observers see every thread but take no traffic). Each recipient's side moves
sent → delivered (the first time its client receives the message: over the stream, by JSON
polling, or by listing messages) → replied. A recipient that has not replied within the
urgency's deadline is escalated, and again every deadline until it replies; ``standby`` is a
reply that holds escalation off for one more deadline, the final replies (acknowledged,
will_comply, unable) stop it. The latest reply stands.

What one party may ask of the line here is bounded (`model.limits.Limits`), so that no party can
flood another or make the line escalate without end:

- ``messages_per_minute`` counts each recipient of a message (a broadcast to 12 parties is 12);
  a message that would go over it is refused whole (429 with Retry-After), nothing stored. A
  first reply is never limited (an answer to a distress call is never refused; it is bounded by
  the messages received); a reply again to the same message counts like a message.
- ``unanswered_per_recipient``: a sender may have at most this many messages awaiting a final
  reply from one recipient. A message to a recipient with that many is refused (429); a
  broadcast goes to every other party and leaves out those recipients (its recipients name who
  got it), and is refused only if it would reach nobody. Every message therefore ends replied,
  escalated or refused, and the escalation one sender causes is bounded by the number of
  parties, not by what it sends: at most ``unanswered_per_recipient`` escalations per recipient
  per deadline (40 a minute at the 30 s distress deadline, with the default 20), each told to the
  sender, the recipient, its contacts and the observers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from deconfliction.model.link import PartyLink
from deconfliction.model.message import BROADCAST, Message, Recipient, ReplyKind, Urgency
from deconfliction.model.party import Party, Role
from deconfliction.model.time import rfc3339
from deconfliction.service import access, evidence, paging
from deconfliction.service.errors import (
    FieldError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from deconfliction.service.evidence import Recorded
from deconfliction.service.line import Line
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

ESCALATION_BATCH = 500  # due recipients handled per transaction
Thread = tuple[Message, list[Recipient]]


def message_data(m: Message) -> dict[str, Any]:
    """A message as JSON (events and views)."""
    return {"id": m.id, "from": m.sender, "to": m.to, "urgency": m.urgency.value,
            "subject": m.subject, "body": m.body, "refs": list(m.refs), "time": rfc3339(m.time)}


def _writer(party: Party) -> None:
    if party.role is Role.OBSERVER:
        raise PermissionDenied("observers read everything and write nothing")


def _recipients(sender: Party, to: str, parties: list[Party]) -> list[str]:
    takers = [p for p in parties if p.active and p.role is not Role.OBSERVER
              and p.name != sender.name]
    if to == BROADCAST:
        if not takers:
            raise ValidationFailed([FieldError("to", "no other party takes hotline traffic")])
        return [p.name for p in takers]
    named = {p.name: p for p in parties}.get(to)
    if named is None or not named.active:
        raise ValidationFailed([FieldError("to", f"no active party named {to!r}")])
    if named.name == sender.name:
        raise ValidationFailed([FieldError("to", "a party cannot message itself")])
    if named.role is Role.OBSERVER:
        raise ValidationFailed([FieldError(
            "to", "observers take no hotline traffic (they see every thread)")])
    return [named.name]


async def send_message(
    line: Line, party: Party, *, to: str, urgency: Urgency, subject: str, body: str,
    refs: list[str], now: float,
) -> Recorded[Thread]:
    """Send a message; it and each recipient's copy are in the streams when this returns.
    Counted once per recipient toward ``messages_per_minute``; recipients that already have
    ``unanswered_per_recipient`` of the sender's messages are refused (see the module)."""
    _writer(party)
    limits = line.settings.limits
    # one recipient's worth now, before any work (a party over its rate costs no transaction)
    line.quotas.take("messages_per_minute", party.name, limits.messages_per_minute, now=now)
    message = Message(str(uuid.uuid4()), party.name, to, urgency, subject, body,
                      tuple(dict.fromkeys(refs)), now)
    deadline = line.settings.reply_deadlines_s[urgency]
    charged = False  # the rest of the recipients, once (a retried unit of work runs again)

    async def work(repo: Repository) -> Recorded[Thread]:
        nonlocal charged
        if to == BROADCAST:
            candidates = await repo.parties()
        else:
            named = await repo.party(to)
            candidates = [named] if named is not None else []
        names = _recipients(party, to, candidates)
        known = await repo.known_refs(message.refs)
        unknown = [FieldError(f"refs[{i}]", "no operation, constraint or alert with this id")
                   for i, ref in enumerate(refs) if ref not in known]
        if unknown:
            raise ValidationFailed(unknown)
        full = await line.unanswered.full(repo, party.name, names,
                                          limits.unanswered_per_recipient, now)
        if full:
            names = [name for name in names if name not in full]
            if not names:
                raise RateLimited(
                    f"{', '.join(sorted(full))} already "
                    f"{'has' if len(full) == 1 else 'have'} {limits.unanswered_per_recipient} "
                    "of your messages unanswered (each is escalated until answered)",
                    limit="unanswered_per_recipient", value=limits.unanswered_per_recipient,
                    retry_after_s=deadline)
        if not charged and len(names) > 1:
            line.quotas.take("messages_per_minute", party.name, limits.messages_per_minute,
                             now=now, count=len(names) - 1)
        charged = True
        recipients = [Recipient(message.id, name, escalate_at=now + deadline)
                      for name in names]
        await repo.insert_message(message, recipients)
        line.unanswered.sent(party.name, names)
        (receipt,) = await repo.append_leaves([evidence.message_sent(message, recipients)])
        data = message_data(message)
        await repo.append_event(party.name, "message.sent", now,
                                {**data, "recipients": names})
        for name in names:
            await repo.append_event(name, "message.received", now, data)
        return Recorded((message, recipients), receipt)

    return await line.store.transact(work)


async def record_receipts(
    line: Line, party: Party, senders: Mapping[str, str], now: float
) -> None:
    """The first delivery to ``party`` of these messages (id → sender): a receipt each, told
    to its sender. Messages already delivered are left as they are."""
    if not senders:
        return

    async def work(repo: Repository) -> None:
        delivered = await repo.mark_delivered(party.name, list(senders), now)
        # a receipt each, readable by the recipient and the message's sender
        await repo.append_leaves([evidence.message_delivered(m, party.name, senders[m], now)
                                  for m in delivered])
        for message_id in delivered:
            await repo.append_event(senders[message_id], "message.delivered", now, {
                "message_id": message_id, "party": party.name, "delivered_at": rfc3339(now)})

    await line.store.transact(work)


def _visible(party: Party, message: Message, recipients: list[Recipient]) -> bool:
    return access.readable(access.Kind.MESSAGE, access.relation_to(
        party, owner=message.sender, concerned=[r.party for r in recipients]))


MESSAGES: paging.Order[Thread] = paging.Order(
    "messages", lambda thread: (thread[0].time, thread[0].id), (float, str))


async def list_messages(
    line: Line, party: Party, *, limit: int, now: float, cursor: str | None = None,
) -> paging.Page[Thread]:
    """Threads ``party`` sent or received, newest first (observers: all), a page at a time,
    with each recipient's status; receiving them here counts as delivery."""
    reader = None if party.sees_everything else party.name
    after = MESSAGES.after(cursor)

    async def read(repo: Repository) -> list[Thread]:
        found = await repo.messages(party=reader, limit=limit + 1, after=after)
        recipients = await repo.recipients([m.id for m in found])
        return [(m, recipients[m.id]) for m in found]

    threads = MESSAGES.page(await line.store.interact(read), limit)
    pending = {m.id: m.sender for m, rs in threads
               if any(r.party == party.name and r.delivered_at is None for r in rs)}
    if pending:
        await record_receipts(line, party, pending, now)
        threads = MESSAGES.page(await line.store.interact(read), limit)
    return threads


async def get_message(line: Line, party: Party, message_id: str, now: float) -> Thread:
    """One thread, to its sender, its recipients and observers (others: not found)."""

    async def read(repo: Repository) -> Thread | None:
        message = await repo.message(message_id)
        if message is None:
            return None
        return message, (await repo.recipients([message_id]))[message_id]

    thread = await line.store.interact(read)
    if thread is None or not _visible(party, *thread):
        raise NotFound(f"no message {message_id!r}")
    if any(r.party == party.name and r.delivered_at is None for r in thread[1]):
        await record_receipts(line, party, {message_id: thread[0].sender}, now)
        thread = await line.store.interact(read)
        assert thread is not None
    return thread


async def reply(
    line: Line, party: Party, message_id: str, kind: ReplyKind, text: str | None, now: float
) -> Recorded[Recipient]:
    """A recipient's reply (a human act); replying also counts as delivery. The ledger
    records the reply (its delivery is part of it). A first reply is never limited; a reply
    again to the same message counts toward ``messages_per_minute``."""
    charged = False  # once, though a retried unit of work runs again

    async def work(repo: Repository) -> Recorded[Recipient]:
        nonlocal charged
        message = await repo.message(message_id)
        if message is None:
            raise NotFound(f"no message {message_id!r}")
        mine = await repo.recipient(message_id, party.name)
        if mine is None:
            # one who may not read the message learns nothing, not even that it exists
            if not _visible(party, message, (await repo.recipients([message_id]))[message_id]):
                raise NotFound(f"no message {message_id!r}")
            raise PermissionDenied("only a recipient of this message may reply to it")
        if mine.reply is not None and not charged:
            line.quotas.take("messages_per_minute", party.name,
                             line.settings.limits.messages_per_minute, now=now)
            charged = True
        deadline = line.settings.reply_deadlines_s[message.urgency]
        if mine.delivered_at is None:
            await repo.append_event(message.sender, "message.delivered", now, {
                "message_id": message_id, "party": party.name, "delivered_at": rfc3339(now)})
        answered = replace(
            mine, delivered_at=mine.delivered_at if mine.delivered_at is not None else now,
            reply=kind, reply_text=text, replied_at=now,
            escalate_at=now + deadline if kind is ReplyKind.STANDBY else None)
        await repo.put_recipient(answered)
        if mine.escalate_at is not None and answered.escalate_at is None:
            line.unanswered.answered(message.sender, party.name)
        elif mine.escalate_at is None and answered.escalate_at is not None:  # standby again
            line.unanswered.sent(message.sender, [party.name])
        (receipt,) = await repo.append_leaves([evidence.message_replied(answered,
                                                                         message.sender)])
        data = {"message_id": message_id, "party": party.name, "reply": kind.value,
                "text": text, "replied_at": rfc3339(now)}
        for name in dict.fromkeys((message.sender, party.name)):
            await repo.append_event(name, "message.replied", now, data)
        return Recorded(answered, receipt)

    return await line.store.transact(work)


async def set_escalation_contacts(
    line: Line, party: Party, contacts: list[str], now: float
) -> PartyLink:
    """Who is told, besides observers, when ``party`` leaves a message unanswered (at most
    ``settings_per_minute`` changes of one's own settings)."""
    _writer(party)
    line.quotas.take("settings_per_minute", party.name,
                     line.settings.limits.settings_per_minute, now=now)

    async def work(repo: Repository) -> PartyLink:
        active = {p.name for p in await repo.parties() if p.active}
        wrong = [FieldError(f"contacts[{i}]", "not another active party")
                 for i, name in enumerate(contacts) if name not in active or name == party.name]
        if wrong:
            raise ValidationFailed(wrong)
        link = (await repo.party_links()).get(party.name) or PartyLink(party.name)
        link = replace(link, contacts=tuple(dict.fromkeys(contacts)))
        await repo.put_party_link(link)
        return link

    return await line.store.transact(work)


async def escalation_contacts(line: Line, party: Party) -> PartyLink:
    links = await line.store.interact(lambda repo: repo.party_links())
    return links.get(party.name) or PartyLink(party.name)


async def escalate_due(line: Line, now: float) -> int:
    """Escalate every recipient whose reply deadline has passed; returns how many.

    Told: the sender, the recipient (a reminder), the recipient's escalation contacts and
    every observer. The next escalation is one deadline later."""
    due = await line.store.interact(lambda repo: repo.due_recipients(now, 1))
    if not due:
        return 0

    async def work(repo: Repository) -> int:
        due = await repo.due_recipients(now, ESCALATION_BATCH)
        if not due:
            return 0
        parties = await repo.parties()
        by_name = {p.name: p for p in parties}
        active = {p.name for p in parties if p.active}
        observers = [p.name for p in parties if p.active and p.role is Role.OBSERVER]
        links = await repo.party_links()
        recorded = []
        for r in due:
            message = await repo.message(r.message_id)
            if message is None:
                continue
            deadline = line.settings.reply_deadlines_s[message.urgency]
            escalated = replace(r, escalations=r.escalations + 1, escalate_at=now + deadline)
            await repo.put_recipient(escalated)
            # recorded at the deadline that passed, not when this pass ran
            assert r.escalate_at is not None  # due: it has one
            recorded.append(evidence.message_escalated(escalated, message.sender,
                                                       r.escalate_at))
            contacts = links[r.party].contacts if r.party in links else ()
            told = dict.fromkeys((message.sender, r.party, *contacts, *observers))
            data = {"message_id": message.id, "party": r.party, "from": message.sender,
                    "urgency": message.urgency.value, "subject": message.subject,
                    "sent": rfc3339(message.time), "escalation": escalated.escalations,
                    "reply": r.reply.value if r.reply else None}
            for name in told:
                if name in active:  # a contact learns who must act, not the message's text
                    relation = access.recipient_relation(by_name[name], message.sender, r.party)
                    await repo.append_event(name, "message.escalated", now, access.cut(
                        access.Kind.ESCALATION_NOTICE, relation, data))
        await repo.append_leaves(recorded)
        return len(due)

    return await line.store.transact(work)


def escalation_tick_s(line: Line) -> float:
    """How often to look for due escalations: a quarter of the shortest deadline, 0.1..1 s."""
    return min(1.0, max(0.1, min(line.settings.reply_deadlines_s.values()) / 4))


async def run_escalation(line: Line, stop: asyncio.Event) -> None:
    """Escalate unanswered messages until ``stop`` is set (safe in several processes: each
    escalation is one serializable transaction that moves the recipient's next deadline)."""
    tick = escalation_tick_s(line)
    while not stop.is_set():
        try:
            while await escalate_due(line, line.clock()) == ESCALATION_BATCH:
                pass
        except Exception:
            log.exception("escalation pass failed; retrying next tick")
        try:
            await asyncio.wait_for(stop.wait(), tick)
        except TimeoutError:
            pass
