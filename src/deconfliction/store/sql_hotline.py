"""Repository functions for the hotline and the line itself: messages, recipients, party
links (status, escalation contacts) and link tests."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Row

from deconfliction.model.link import LinkTest, PartyLink, PartyStatus
from deconfliction.model.message import Message, Recipient, ReplyKind, Urgency
from deconfliction.store.hot import hot
from deconfliction.store.keyset import after_key
from deconfliction.store.schema import (
    airspace_constraint,
    alert,
    link_test,
    link_test_ack,
    message,
    message_recipient,
    operation,
    party_link,
)
from deconfliction.store.unit_of_work import ThreadConnection

# hot-path statements, built once (see store.sql)
_INSERT_MESSAGE = hot(insert(message))
_INSERT_RECIPIENT = hot(insert(message_recipient))
_MESSAGE = hot(select(message).where(message.c.id == bindparam("id")))
_MARK_DELIVERED = hot(
    update(message_recipient)
    .where(message_recipient.c.party == bindparam("recipient"),
           message_recipient.c.delivered_at.is_(None),
           message_recipient.c.message_id.in_(bindparam("ids", expanding=True)))
    .values(delivered_at=bindparam("delivered")).returning(message_recipient.c.message_id))


def _message(row: Row[Any]) -> Message:
    return Message(row.id, row.sender, row.addressee, Urgency(row.urgency), row.subject,
                   row.body, tuple(json.loads(row.refs)), row.time)


def _recipient(row: Row[Any]) -> Recipient:
    return Recipient(row.message_id, row.party, row.delivered_at,
                     ReplyKind(row.reply) if row.reply else None, row.reply_text,
                     row.replied_at, row.escalations, row.escalate_at)


def _recipient_values(r: Recipient) -> dict[str, Any]:
    return dict(delivered_at=r.delivered_at, reply=r.reply.value if r.reply else None,
                reply_text=r.reply_text, replied_at=r.replied_at, escalations=r.escalations,
                escalate_at=r.escalate_at)


class HotlineSql:
    """Mixed into the SQL repository; shares its connection."""

    _c: ThreadConnection

    # messages -------------------------------------------------------------------------------
    async def insert_message(self, m: Message, recipients: Sequence[Recipient]) -> None:
        await self._c.execute(_INSERT_MESSAGE, dict(
            id=m.id, sender=m.sender, addressee=m.to, urgency=m.urgency.value,
            subject=m.subject, body=m.body, refs=json.dumps(list(m.refs)), time=m.time))
        await self._c.execute(_INSERT_RECIPIENT, [
            {"message_id": r.message_id, "party": r.party, **_recipient_values(r)}
            for r in recipients])

    async def message(self, message_id: str) -> Message | None:
        row = (await self._c.execute(_MESSAGE, {"id": message_id})).first()
        return _message(row) if row else None

    async def messages(
        self, *, party: str | None, limit: int, after: Sequence[Any] | None = None
    ) -> list[Message]:
        query = after_key(select(message), [(message.c.time, True), (message.c.id, False)],
                          after, limit)
        if party is not None:
            received = select(message_recipient.c.message_id).where(
                message_recipient.c.party == party)
            query = query.where(or_(message.c.sender == party, message.c.id.in_(received)))
        return [_message(r) for r in await self._c.execute(query)]

    async def recipients(self, message_ids: Sequence[str]) -> dict[str, list[Recipient]]:
        found: dict[str, list[Recipient]] = defaultdict(list)
        if not message_ids:
            return found
        query = (select(message_recipient)
                 .where(message_recipient.c.message_id.in_(list(message_ids)))
                 .order_by(message_recipient.c.message_id, message_recipient.c.party))
        for row in await self._c.execute(query):
            found[row.message_id].append(_recipient(row))
        return found

    async def recipient(self, message_id: str, party: str) -> Recipient | None:
        t = message_recipient
        row = (await self._c.execute(
            select(t).where(t.c.message_id == message_id, t.c.party == party))).first()
        return _recipient(row) if row else None

    async def put_recipient(self, r: Recipient) -> None:
        """Store a recipient's delivery, reply and escalation state."""
        t = message_recipient
        await self._c.execute(update(t).where(t.c.message_id == r.message_id,
                                              t.c.party == r.party)
                              .values(**_recipient_values(r)))

    async def mark_delivered(
        self, party: str, message_ids: Sequence[str], at: float
    ) -> list[str]:
        if not message_ids:
            return []
        result = await self._c.execute(_MARK_DELIVERED, {
            "recipient": party, "ids": list(message_ids), "delivered": at})
        return [r.message_id for r in result]

    async def due_recipients(self, now: float, limit: int) -> list[Recipient]:
        t = message_recipient
        query = (select(t).where(t.c.escalate_at.is_not(None), t.c.escalate_at <= now)
                 .order_by(t.c.escalate_at).limit(limit))
        return [_recipient(r) for r in await self._c.execute(query)]

    async def unanswered(self, sender: str, parties: Sequence[str]) -> dict[str, int]:
        if not parties:
            return {}
        t = message_recipient
        query = (select(t.c.party, func.count().label("n"))
                 .select_from(t.join(message, message.c.id == t.c.message_id))
                 .where(t.c.party.in_(list(parties)), t.c.escalate_at.is_not(None),
                        message.c.sender == sender)
                 .group_by(t.c.party))
        return {r.party: int(r.n) for r in await self._c.execute(query)}

    async def known_refs(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` name an operation, a constraint or an alert."""
        if not ids:
            return set()
        wanted = list(ids)
        found: set[str] = set()
        for table in (operation, airspace_constraint, alert):
            rows = await self._c.execute(select(table.c.id).where(table.c.id.in_(wanted)))
            found.update(r.id for r in rows)
        return found

    # party links ----------------------------------------------------------------------------
    async def party_links(self) -> dict[str, PartyLink]:
        return {r.party: PartyLink(r.party, PartyStatus(r.status), r.status_at,
                                   tuple(json.loads(r.contacts)))
                for r in await self._c.execute(select(party_link))}

    async def put_party_link(self, link: PartyLink) -> None:
        """Store a party's status and contacts."""
        values = dict(status=link.status.value, status_at=link.status_at,
                      contacts=json.dumps(list(link.contacts)))
        result = await self._c.execute(update(party_link)
                                       .where(party_link.c.party == link.party).values(**values))
        if result.rowcount == 0:
            await self._c.execute(insert(party_link).values(party=link.party, **values))

    # link tests -----------------------------------------------------------------------------
    async def insert_link_test(self, test: LinkTest) -> None:
        await self._c.execute(insert(link_test).values(id=test.id, sender=test.sender,
                                                       time=test.time))

    async def link_test(self, test_id: str) -> LinkTest | None:
        row = (await self._c.execute(select(link_test).where(link_test.c.id == test_id))).first()
        if row is None:
            return None
        acks = await self._c.execute(select(link_test_ack)
                                     .where(link_test_ack.c.test_id == test_id))
        return LinkTest(row.id, row.sender, row.time, {a.party: a.acked_at for a in acks})

    async def latest_link_test(self) -> LinkTest | None:
        row = (await self._c.execute(
            select(link_test.c.id).order_by(link_test.c.time.desc()).limit(1))).first()
        return await self.link_test(row.id) if row else None

    async def add_link_ack(self, test_id: str, party: str, at: float) -> None:
        await self._c.execute(insert(link_test_ack).values(test_id=test_id, party=party,
                                                           acked_at=at))
