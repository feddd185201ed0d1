"""Per-party rates (the per-minute limits of `model.limits.Limits`), as token buckets.

A bucket holds up to a minute's allowance and refills evenly, so a party may send a burst of
its whole minute at once and then one every (60 / limit) seconds. Buckets live in this process
(with several processes, each allows the rate; the limits bound cost per process). Time is
the use case's ``now``, so tests drive it with a fake clock.

Examples
--------
>>> quotas = Quotas()
>>> quotas.take("messages_per_minute", "blue", 2, now=0.0)
>>> quotas.take("messages_per_minute", "blue", 2, now=0.0)
>>> try:
...     quotas.take("messages_per_minute", "blue", 2, now=0.0)
... except RateLimited as refused:
...     print(refused.extensions, refused.retry_after_s)
{'limit': 'messages_per_minute', 'value': 2} 30.0
>>> quotas.take("messages_per_minute", "blue", 2, now=30.0)
"""

from __future__ import annotations

from deconfliction.service.errors import RateLimited

__all__ = ["Quotas"]


class Quotas:
    """Token buckets keyed by (limit name, party)."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # → (tokens, at)

    def take(self, limit: str, party: str, per_minute: int, *, now: float,
             count: int = 1) -> None:
        """Spend ``count`` of ``party``'s allowance under ``limit``, or raise `RateLimited`
        (spending nothing) saying when that many will be there."""
        tokens, at = self._buckets.get((limit, party), (float(per_minute), now))
        tokens = min(float(per_minute), tokens + max(0.0, now - at) * per_minute / 60.0)
        if count > tokens:
            self._buckets[(limit, party)] = (tokens, now)
            wait = (min(count, per_minute) - tokens) * 60.0 / per_minute
            raise RateLimited(
                f"over {limit.replace('_', ' ')}: at most {per_minute} a minute for one party",
                limit=limit, value=per_minute, retry_after_s=max(wait, 1.0))
        self._buckets[(limit, party)] = (tokens - count, now)
