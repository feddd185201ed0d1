"""Per-party admission (`service.quota`) with a fake clock: requests in flight per party, the
server-time budget charged after each request and refilled with time, refused only while
another party has a request in the server; one party's debt never touches another's share;
and the CPU meter that splits the process's CPU time among the requests in the server."""

from __future__ import annotations

import pytest

from deconfliction.model.limits import Limits
from deconfliction.service.errors import RateLimited
from deconfliction.service.quota import CpuMeter, Shares
from support.service_level import FakeClock


def _shares(**limits: int) -> Shares:
    given = Limits(**limits)  # type: ignore[arg-type]
    return Shares(requests_in_flight=given.requests_in_flight,
                  server_ms_per_s=given.server_ms_per_s,
                  server_ms_burst=given.server_ms_burst)


def _refused(refusal: RateLimited | None, limit: str, value: int) -> RateLimited:
    assert isinstance(refusal, RateLimited), "expected a refusal"
    assert refusal.extensions == {"limit": limit, "value": value}
    assert limit in refusal.detail
    assert refusal.retry_after_s >= 1.0
    return refusal


def test_requests_in_flight_per_party() -> None:
    clock = FakeClock()
    shares = _shares(requests_in_flight=2)
    assert shares.admit("blue", clock()) is None
    assert shares.admit("blue", clock()) is None
    _refused(shares.admit("blue", clock()), "requests_in_flight", 2)
    assert shares.admit("red", clock()) is None, "another party has its own share"
    shares.release("blue", 0.001, clock.at(0.1))
    assert shares.admit("blue", clock()) is None, "an answer frees a place"


def test_a_party_over_its_budget_is_refused_until_its_debt_is_paid() -> None:
    clock = FakeClock()
    shares = _shares(server_ms_per_s=250, server_ms_burst=1000)
    assert shares.admit("red", clock.at(0.0)) is None  # red's request stays in the server
    assert shares.admit("blue", clock()) is None
    shares.release("blue", 3.0, clock.at(0.5))  # 1 s may be spent at once: 2 s owed
    refused = _refused(shares.admit("blue", clock.at(0.5)), "server_ms_per_s", 250)
    assert refused.retry_after_s == pytest.approx(2.0 / 0.25)
    # red is unaffected: its other requests are let in
    assert shares.admit("red", clock.at(0.6)) is None
    shares.release("red", 0.010, clock())
    _refused(shares.admit("blue", clock.at(4.0)), "server_ms_per_s", 250)
    # the bucket refills at 250 ms a second: paid back 8 s after it was charged
    assert shares.admit("blue", clock.at(8.6)) is None


def test_alone_on_the_line_a_party_may_use_it_all() -> None:
    clock = FakeClock()
    shares = _shares(server_ms_per_s=250, server_ms_burst=1000)
    for k in range(10):  # far over its budget, but nobody else is in the server
        assert shares.admit("blue", clock.at(k * 0.1)) is None
        shares.release("blue", 1.0, clock())
        # a client taking turns for several parties, one request at a time, is never refused
        assert shares.admit("red", clock()) is None
        shares.release("red", 1.0, clock())
    # once another party's request is in the server, the party in debt waits
    assert shares.admit("red", clock()) is None
    refused = _refused(shares.admit("blue", clock()), "server_ms_per_s", 250)
    assert refused.retry_after_s > 30
    shares.release("red", 0.001, clock())
    assert shares.admit("blue", clock()) is None, "still in debt, but alone again"


def test_the_cpu_meter_splits_the_process_time_among_the_requests_in_the_server() -> None:
    meter = CpuMeter()
    a = meter.enter(cpu=100.0)
    b = meter.enter(cpu=100.3)  # a alone: 0.3 s
    c = meter.enter(cpu=100.9)  # a and b: 0.3 s each
    assert meter.leave(b, cpu=101.2) == pytest.approx(0.3 + 0.1)  # three: 0.1 s each
    assert meter.leave(c, cpu=101.4) == pytest.approx(0.1 + 0.1)  # two: 0.1 s each
    assert meter.leave(a, cpu=102.0) == pytest.approx(0.3 + 0.3 + 0.1 + 0.1 + 0.6)
    d = meter.enter(cpu=150.0)  # CPU spent with nobody in the server is nobody's
    assert meter.leave(d, cpu=150.5) == pytest.approx(0.5)
