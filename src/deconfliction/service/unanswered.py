"""Unanswered messages per sender → recipient: what bounds the escalation one sender causes.

Every message awaiting a final reply is escalated every deadline (`service.hotline`), so a
sender may have at most ``unanswered_per_recipient`` of them with one recipient. This process
counts the pairs' unanswered messages as it sends them and takes their final replies (no query
on the hot path). The count may run high (a transaction that did not commit, a reply taken by
another process) or low (after a restart, another process's sends), so once it reaches the
limit the store's own count replaces it — at most once a second per pair, whatever the sender
tries — before a recipient is refused.

Examples
--------
>>> counts = Unanswered()
>>> counts.sent("blue", ["red", "green"])
>>> counts.sent("blue", ["red"])
>>> counts.counted("blue", "red"), counts.counted("blue", "green")
(2, 1)
>>> counts.answered("blue", "red")
>>> counts.counted("blue", "red")
1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from deconfliction.store.base import Repository

__all__ = ["RECOUNT_S", "Unanswered"]

RECOUNT_S = 1.0
"""Least time between two counts in the store for one pair."""


class Unanswered:
    """This process's count of unanswered messages per (sender, recipient)."""

    __slots__ = ("_counts", "_recounted")

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._recounted: dict[tuple[str, str], float] = {}

    def counted(self, sender: str, party: str) -> int:
        return self._counts.get((sender, party), 0)

    async def full(self, repo: Repository, sender: str, parties: Sequence[str], limit: int,
                   now: float) -> set[str]:
        """Those of ``parties`` that have ``limit`` or more of ``sender``'s messages
        unanswered (counted in the store when this process's count says so)."""
        near = [p for p in parties if self.counted(sender, p) >= limit]
        stale = [p for p in near
                 if now - self._recounted.get((sender, p), -math.inf) >= RECOUNT_S]
        if stale:
            found = await repo.unanswered(sender, stale)
            for p in stale:
                self._counts[(sender, p)] = found.get(p, 0)
                self._recounted[(sender, p)] = now
        return {p for p in near if self.counted(sender, p) >= limit}

    def sent(self, sender: str, parties: Iterable[str]) -> None:
        """``sender`` sent one more message to each of ``parties``."""
        for p in parties:
            self._counts[(sender, p)] = self._counts.get((sender, p), 0) + 1

    def answered(self, sender: str, party: str) -> None:
        """``party`` answered one of ``sender``'s messages finally."""
        key = (sender, party)
        if self._counts.get(key, 0) > 0:
            self._counts[key] -= 1
