"""Conformance timers through the detection cycle (ASTM F3548-21: outside all of its operation's
volumes for longer than 10 s → nonconforming; nonconforming for longer than 60 s → contingent;
back inside → activated), with the nonconformance alert, on a real store and a fake clock.

The end-to-end suite keeps one smoke path (test_e2e_tactical.py::
test_nonconformance_then_back_inside, the 10 s step through a server); the 60 s contingency and
the exact instants are checked here, in milliseconds, on both backends.
"""

from __future__ import annotations

import pytest

from deconfliction.model.operation import OperationState
from deconfliction.model.party import Role
from deconfliction.model.track import Aircraft, StateReport
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import operations, tactical, tracks
from deconfliction.service.line import Line
from deconfliction.service.tactical import DetectionCycle
from support.service_level import T0, FakeClock, add_parties, counter, events

pytestmark = pytest.mark.anyio

CENTRE = (36.2, 37.1)  # lon, lat: the operation's 2 km circle
INSIDE = (37.1, 36.2)  # lat, lon
OUTSIDE = (37.19, 36.2)  # 10 km north of the circle's centre


async def _straying_operation(line: Line, *, aircraft: int = 1):
    """blue's operation (a 2 km circle, surface to 4000 m, for an hour) and ``aircraft`` of its
    aircraft tied to it; red and watch (an observer) to be told."""
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR, watch=Role.OBSERVER)
    declared = await operations.declare_operation(line, who["blue"], operations.DeclareOperation(
        (Volume(CircleFootprint(CENTRE, 2000.0), 0.0, 4000.0, T0 - 60, T0 + 3600),)), T0)
    op = declared.operation
    ids = [f"blue-{k}" for k in range(1, aircraft + 1)]
    for aid in ids:
        await tracks.register_aircraft(line, who["blue"], Aircraft(aid, "blue",
                                                                   operation_id=op.id))
    return who, op, ids


async def _fly(line: Line, clock: FakeClock, cycle: DetectionCycle, who, ids, at: float,
               where: tuple[float, float]) -> None:
    """At ``T0 + at``: every aircraft reports holding at ``where``, then one cycle runs."""
    now = clock.at(at)
    await tracks.report_tracks(line, who["blue"], [
        StateReport(aid, now, where[0], where[1], 2000.0, 0.0, 0.0, 0.0) for aid in ids], now)
    await cycle.step(now)


async def _state(line: Line, op_id: str) -> OperationState:
    found = await line.store.interact(lambda repo: repo.operation(op_id))
    assert found is not None
    return found.state


async def test_nonconforming_after_10_s_contingent_after_60_more_then_back(line, clock):
    who, op, ids = await _straying_operation(line)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    seen: dict[int, OperationState] = {}
    for t in range(0, 72):  # outside from T0 on, one cycle a second
        await _fly(line, clock, cycle, who, ids, float(t), OUTSIDE)
        if t in (10, 11, 70, 71):
            seen[t] = await _state(line, op.id)
    # "longer than 10 s": still accepted 10 s after the first outside cycle, nonconforming at 11
    assert seen[10] is OperationState.ACCEPTED and seen[11] is OperationState.NONCONFORMING
    # nonconforming since T0 + 10; "longer than 60 s" → contingent at the cycle of T0 + 71
    assert seen[70] is OperationState.NONCONFORMING and seen[71] is OperationState.CONTINGENT

    # every party is told each change, with the previous state and the new version token
    for party in ("blue", "red", "watch"):
        told = await events(line, party, "operation.state", operation_id=op.id)
        assert [(e.data["previous_state"], e.data["state"], e.time) for e in told] == [
            ("accepted", "nonconforming", T0 + 11), ("nonconforming", "contingent", T0 + 71)]
        assert len({e.data["ovn"] for e in told}) == 2

    # the nonconformance alert: raised on the second outside cycle (2 of the last 4), for blue
    raised = await events(line, "blue", "alert.raised")
    assert [(e.data["alert_kind"], e.time) for e in raised] == [("nonconformance", T0 + 1)]
    assert not await events(line, "red", "alert.raised")

    # back inside: activated at once (a fresh excursion would need 10 s again), and the alert
    # clears once it has not been detected for the 5 s hysteresis
    await _fly(line, clock, cycle, who, ids, 72.0, INSIDE)
    assert await _state(line, op.id) is OperationState.ACTIVATED
    told = await events(line, "red", "operation.state", operation_id=op.id)
    assert (told[-1].data["previous_state"], told[-1].data["state"]) == ("contingent",
                                                                        "activated")
    for t in range(73, 80):
        await _fly(line, clock, cycle, who, ids, float(t), INSIDE)
    cleared = await events(line, "blue", "alert.cleared")
    assert [e.time for e in cleared] == [T0 + 76]  # last detected at T0 + 71


async def test_a_short_excursion_changes_nothing_and_restarts_the_timer(line, clock):
    who, op, ids = await _straying_operation(line)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    for t in range(0, 10):  # 9 s outside (T0 .. T0 + 9) ...
        await _fly(line, clock, cycle, who, ids, float(t), OUTSIDE)
    await _fly(line, clock, cycle, who, ids, 10.0, INSIDE)  # ... back in time
    for t in range(11, 22):  # out again from T0 + 11: a fresh 10 s
        await _fly(line, clock, cycle, who, ids, float(t), OUTSIDE)
        assert await _state(line, op.id) is OperationState.ACCEPTED, t
    await _fly(line, clock, cycle, who, ids, 22.0, OUTSIDE)
    assert await _state(line, op.id) is OperationState.NONCONFORMING
    assert len(await events(line, "red", "operation.state", operation_id=op.id)) == 1


async def test_cycles_far_apart_go_through_nonconforming_to_contingent_in_one_step(line, clock):
    who, op, ids = await _straying_operation(line)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    await _fly(line, clock, cycle, who, ids, 0.0, OUTSIDE)
    await _fly(line, clock, cycle, who, ids, 75.0, OUTSIDE)  # one late cycle (a stalled line)
    assert await _state(line, op.id) is OperationState.CONTINGENT
    told = await events(line, "watch", "operation.state", operation_id=op.id)
    assert [e.data["state"] for e in told] == ["nonconforming", "contingent"]


async def test_an_ended_operation_is_not_monitored(line, clock):
    who, op, ids = await _straying_operation(line)
    await operations.end_operation(line, who["blue"], op.id, op.ovn, T0)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    for t in range(0, 15):
        await _fly(line, clock, cycle, who, ids, float(t), OUTSIDE)
    assert await _state(line, op.id) is OperationState.ENDED
    assert not await events(line, "red", "operation.state")
    assert not await events(line, "blue", "alert.raised")


async def test_conformance_is_computed_once_per_cycle(line, clock, monkeypatch):
    """Two aircraft of one operation, one outside: one excursion test per cycle serves both
    the alert and the timers (the cycle used to test every tied aircraft twice)."""
    who, op, ids = await _straying_operation(line, aircraft=2)
    calls: list[int] = []
    real = tactical.detect_excursions

    def spy(arrays, tied, volumes):
        calls.append(len(arrays))
        return real(arrays, tied, volumes)

    monkeypatch.setattr(tactical, "detect_excursions", spy)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    for t in range(0, 12):
        now = clock.at(float(t))
        await tracks.report_tracks(line, who["blue"], [
            StateReport(ids[0], now, *OUTSIDE, 2000.0, 0.0, 0.0, 0.0),
            StateReport(ids[1], now, *INSIDE, 2000.0, 0.0, 0.0, 0.0)], now)
        await cycle.step(now)
    assert calls == [2] * 12
    # one aircraft outside is enough: the operation is nonconforming after 10 s
    assert await _state(line, op.id) is OperationState.NONCONFORMING
    raised = await events(line, "blue", "alert.raised")
    assert len(raised) == 1
