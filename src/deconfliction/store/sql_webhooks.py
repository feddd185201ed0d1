"""Repository functions for webhooks: each party's endpoint and its delivery position."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Row

from deconfliction.model.webhook import Webhook
from deconfliction.store.hot import hot
from deconfliction.store.schema import event, webhook
from deconfliction.store.unit_of_work import ThreadConnection

# the stream watch asks this of every followed party four times a second: one index probe
# (max() wrapped in coalesce() would read all the party's events in SQLite), compiled once
_LAST_SEQ = hot(select(event.c.seq).where(event.c.party == bindparam("party"))
                .order_by(event.c.seq.desc()).limit(1))


def _webhook(row: Row[Any]) -> Webhook:
    return Webhook(row.party, row.url, row.secret, row.created_at, row.updated_at,
                   int(row.delivered_seq), row.delivered_at, row.failures, row.last_error,
                   row.last_attempt_at, row.next_attempt_at)


class WebhookSql:
    """Mixed into the SQL repository; shares its connection."""

    _c: ThreadConnection

    async def webhook(self, party: str) -> Webhook | None:
        row = (await self._c.execute(select(webhook).where(webhook.c.party == party))).first()
        return _webhook(row) if row else None

    async def webhooks(self) -> list[Webhook]:
        return [_webhook(r) for r in
                await self._c.execute(select(webhook).order_by(webhook.c.party))]

    async def put_webhook(self, w: Webhook) -> None:
        values = {f.name: getattr(w, f.name) for f in dataclasses.fields(w)}
        values.pop("party")
        result = await self._c.execute(update(webhook).where(webhook.c.party == w.party)
                                       .values(**values))
        if result.rowcount == 0:
            await self._c.execute(insert(webhook).values(party=w.party, **values))

    async def delete_webhook(self, party: str) -> bool:
        result = await self._c.execute(delete(webhook).where(webhook.c.party == party))
        return result.rowcount > 0

    async def webhook_delivered(self, party: str, url: str, seq: int, at: float) -> bool:
        """Advance delivery to ``seq`` (never backwards; only while ``url`` is the target)."""
        t = webhook
        result = await self._c.execute(
            update(t).where(t.c.party == party, t.c.url == url, t.c.delivered_seq < seq)
            .values(delivered_seq=seq, delivered_at=at, failures=0, last_error=None,
                    last_attempt_at=at, next_attempt_at=None))
        return result.rowcount > 0

    async def webhook_failed(
        self, party: str, url: str, error: str, at: float, next_at: float
    ) -> None:
        t = webhook
        await self._c.execute(
            update(t).where(t.c.party == party, t.c.url == url)
            .values(failures=t.c.failures + 1, last_error=error, last_attempt_at=at,
                    next_attempt_at=next_at))

    async def last_seq(self, party: str) -> int:
        """The sequence number of the party's latest event (0: none yet)."""
        last = await self._c.scalar(_LAST_SEQ, {"party": party})
        return int(last or 0)
