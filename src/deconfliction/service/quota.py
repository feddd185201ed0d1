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

__all__ = ["ANONYMOUS", "CpuMeter", "Quotas", "Shares"]

ANONYMOUS = "(anonymous)"
"""The pseudo-party charged with every request no party's token is on (no token, an unknown
or malformed one): together they get one party's `Shares`, so a flood of made-up tokens
cannot take the server from the parties. No party can have this name (parentheses)."""


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


class _Share:
    """One party's admission state: requests in flight, and its server-time bucket (seconds;
    negative while it owes)."""

    __slots__ = ("at", "in_flight", "seconds")

    def __init__(self, seconds: float, at: float) -> None:
        self.in_flight = 0
        self.seconds = seconds
        self.at = at


class Shares:
    """Each party's share of one server process: at most ``requests_in_flight`` requests at
    once, and a budget of server time (``server_ms_per_s``, a bucket ``server_ms_burst``
    deep) charged after each request with what it took (`CpuMeter`). A party in debt is
    refused while another party has a request in the server (alone on the line it may use it
    all: a client that sends one request at a time, for one party or several, never waits on
    itself); ``Retry-After`` is when the debt is paid. Time is the
    caller's ``now`` (a fake clock in tests).

    Examples
    --------
    >>> shares = Shares(requests_in_flight=2, server_ms_per_s=250, server_ms_burst=500)
    >>> shares.admit("blue", now=0.0) is None and shares.admit("red", now=0.0) is None
    True
    >>> shares.release("blue", spent_s=1.5, now=0.1)   # 0.5 s allowed at once: 1.0 s owed
    >>> refused = shares.admit("blue", now=0.2)           # red is in the server: refused
    >>> refused.extensions, refused.retry_after_s
    ({'limit': 'server_ms_per_s', 'value': 250}, 3.9)
    >>> shares.admit("blue", now=4.2) is None              # paid back
    True
    """

    __slots__ = ("_burst_s", "_busy", "_per_s", "_shares", "in_flight_limit", "ms_per_s")

    def __init__(self, *, requests_in_flight: int, server_ms_per_s: int,
                 server_ms_burst: int) -> None:
        self.in_flight_limit = requests_in_flight
        self.ms_per_s = server_ms_per_s
        self._per_s = server_ms_per_s / 1000.0
        self._burst_s = server_ms_burst / 1000.0
        self._shares: dict[str, _Share] = {}
        self._busy = 0  # parties with a request in the server

    def admit(self, party: str, now: float) -> RateLimited | None:
        """Let one of ``party``'s requests in (None), or the refusal to answer it with (not
        raised: the caller answers it cheaply). An admitted request must be `release`-d."""
        share = self._shares.get(party)
        if share is None:
            share = self._shares[party] = _Share(self._burst_s, now)
        if share.in_flight >= self.in_flight_limit:
            return RateLimited(
                f"{party} has {self.in_flight_limit} requests in the server already "
                "(requests_in_flight)", limit="requests_in_flight",
                value=self.in_flight_limit, retry_after_s=1.0)
        seconds = self._refill(share, now)
        if seconds < 0.0 and self._busy > (1 if share.in_flight else 0):
            return RateLimited(
                f"{party}'s requests took more than {self.ms_per_s} ms of server time a "
                "second while other parties were waiting (server_ms_per_s)",
                limit="server_ms_per_s", value=self.ms_per_s,
                retry_after_s=max(1.0, -seconds / self._per_s))
        if not share.in_flight:
            self._busy += 1
        share.in_flight += 1
        return None

    def release(self, party: str, spent_s: float, now: float) -> None:
        """An admitted request of ``party`` is done (or its response has started): charge the
        server time it took."""
        share = self._shares[party]
        share.in_flight -= 1
        if not share.in_flight:
            self._busy -= 1
        share.seconds = self._refill(share, now) - spent_s

    def _refill(self, share: _Share, now: float) -> float:
        if now > share.at:
            share.seconds = min(self._burst_s, share.seconds + (now - share.at) * self._per_s)
            share.at = now
        return share.seconds


class CpuMeter:
    """What each request in the server cost: the process's CPU time (every thread: the event
    loop, the body's bytes arriving, parsing on worker threads, the database's) split evenly
    among the requests in the server while it was spent (processor sharing). Every CPU second
    spent while requests are in the server is charged once; a request waiting behind others
    pays only its share of those seconds. Two clock reads per request, no per-request state
    but the mark `enter` returns.

    Examples
    --------
    >>> meter = CpuMeter()
    >>> a = meter.enter(cpu=10.0)
    >>> b = meter.enter(cpu=10.2)          # a alone: 0.2 s is a's
    >>> round(meter.leave(b, cpu=10.6), 6)  # 0.4 s shared by two
    0.2
    >>> round(meter.leave(a, cpu=10.7), 6)  # 0.2 + 0.2 + 0.1 alone again
    0.5
    """

    __slots__ = ("_cpu_at", "_in", "_mark")

    def __init__(self) -> None:
        self._mark = 0.0  # CPU seconds per request in the server, summed since the start
        self._cpu_at = 0.0
        self._in = 0

    def _advance(self, cpu: float) -> float:
        if self._in:
            self._mark += (cpu - self._cpu_at) / self._in
        self._cpu_at = cpu
        return self._mark

    def enter(self, cpu: float) -> float:
        """A request enters the server at process CPU time ``cpu``: its mark for `leave`."""
        mark = self._advance(cpu)
        self._in += 1
        return mark

    def leave(self, mark: float, cpu: float) -> float:
        """The request that entered with ``mark`` leaves: the CPU seconds it is charged."""
        spent = self._advance(cpu) - mark
        self._in -= 1
        return spent
