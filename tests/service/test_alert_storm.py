"""A bounded detection cycle, both backends: aircraft stacked by two parties raise at most
``alerts_per_cycle`` alerts a cycle per party and ``active_alerts`` at once, the most urgent
first; the rest are raised as room frees, nothing twice; clears still come; the parties and the
observers are told once that alerts are held back; a party that filled its own room never hides
a conflict from another party, and honest parties elsewhere are not held back at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.party import Role
from deconfliction.model.track import StateReport
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import constraints, tracks
from deconfliction.service.line import Line
from deconfliction.service.tactical import CycleReport, DetectionCycle
from support.service_level import T0, FakeClock, add_parties, counter, events

pytestmark = pytest.mark.anyio

LAT, LON, ALT = 34.0, 40.0, 5000.0
M_PER_DEG_LAT = 111_000.0  # near enough at 34° N for spacing aircraft a few hundred m apart
PER_CYCLE, ACTIVE = 5, 12
STACKED = 6  # aircraft per hostile party: 36 cross-party losses of separation


def _bounded(line: Line) -> Line:
    limits = replace(line.settings.limits, alerts_per_cycle=PER_CYCLE, active_alerts=ACTIVE)
    # reported once, extrapolated every cycle (stationary): keep the tracks for the whole test
    return replace(line, settings=replace(line.settings, limits=limits, track_drop_s=600.0))


def _at(aircraft_id: str, t: float, north_m: float = 0.0, lon: float = LON) -> StateReport:
    return StateReport(aircraft_id, T0 + t, LAT + north_m / M_PER_DEG_LAT, lon, ALT, 0.0, 0.0, 0.0)


async def _stack(line: Line):
    """rogue's aircraft (x0, x1, …) on one point, rogue2's (y0, …) north of it at 100, 300,
    … 1,100 m: every cross-party pair has lost separation, the nearer y the more urgent."""
    who = await add_parties(line, rogue=Role.OPERATOR, rogue2=Role.OPERATOR, blue=Role.OPERATOR,
                            red=Role.OPERATOR, watch=Role.OBSERVER)
    await tracks.report_tracks(line, who["rogue"], [
        _at(f"x{k}", 0.0) for k in range(STACKED)], T0)
    await tracks.report_tracks(line, who["rogue2"], [
        _at(f"y{k}", 0.0, 100.0 + 200.0 * k) for k in range(STACKED)], T0)
    return who


def _raised(report: CycleReport) -> list[tuple[str, ...]]:
    return [tuple(t.key) for t in report.transitions if t.kind == "raised"]


def _id(name: str) -> str:
    """An aircraft's own id from its name in an alert key (``party/id`` or ``id``)."""
    return name.rsplit("/", 1)[-1]


def _stacked(key: tuple[str, ...]) -> bool:
    return _id(key[1]).startswith("x")


async def test_stacked_aircraft_raise_at_most_the_caps_most_urgent_first_the_rest_later(
        line: Line, clock: FakeClock) -> None:
    line = _bounded(line)
    who = await _stack(line)
    # an honest head-on conflict far away: blue and red have their own room
    await tracks.report_tracks(line, who["blue"], [
        StateReport("blue-1", T0, 36.2, 37.0, 7600.0, 230.0, 90.0, 0.0)], T0)
    await tracks.report_tracks(line, who["red"], [
        StateReport("red-1", T0, 36.2, 37.2, 7600.0, 230.0, 270.0, 0.0)], T0)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)

    raised_when: dict[tuple[str, ...], int] = {}
    held_back = []
    for t in range(12):
        report = await cycle.step(clock.at(float(t)))
        raised = _raised(report)
        held_back.append(report.held_back)
        per_party = Counter(p for key in raised if _stacked(key) for p in ("rogue", "rogue2"))
        assert all(n <= PER_CYCLE for n in per_party.values()), (t, raised)
        for key in raised:
            assert key not in raised_when, f"{key} raised twice"
            raised_when[key] = t
    stacked = [k for k in raised_when if _stacked(k)]
    honest = [k for k in raised_when if not _stacked(k)]
    assert [(k[0], _id(k[1]), _id(k[2])) for k in honest] == [("conflict", "blue-1", "red-1")]
    assert raised_when[honest[0]] == 1  # on the second cycle, as without any storm
    # the stacked ones: up to the active cap, the most urgent (nearest rogue2 aircraft) first
    assert len(stacked) == ACTIVE
    distance = {k: int(_id(k[2]).removeprefix("y")) for k in stacked}
    order = sorted(stacked, key=lambda k: raised_when[k])
    assert [distance[k] for k in order] == sorted(distance[k] for k in order)
    assert sorted(distance.values()) == [0] * STACKED + [1] * STACKED
    assert held_back[-1] == {"rogue": 36 - ACTIVE, "rogue2": 36 - ACTIVE}
    assert "blue" not in held_back[-1] and "red" not in held_back[-1]

    # told once each, to the party concerned and to the observer; never to the others
    for party in ("rogue", "rogue2"):
        (capped,) = await events(line, party, "alert.capped")
        assert capped.data["party"] == party
        assert (capped.data["alerts_per_cycle"], capped.data["active_alerts"]) == (
            PER_CYCLE, ACTIVE)
    assert sorted(e.data["party"] for e in await events(line, "watch", "alert.capped")) == [
        "rogue", "rogue2"]
    assert await events(line, "blue", "alert.capped") == []
    assert len(await events(line, "rogue", "alert.raised")) == ACTIVE

    # the nearest rogue2 aircraft leaves: its six alerts clear (five, then one: clears are
    # capped too), and the room they free raises the next most urgent ones
    await tracks.report_tracks(line, who["rogue2"], [_at("y0", 12.0, 50_000.0)], T0 + 12)
    cleared: list[tuple[str, ...]] = []
    for t in range(12, 24):
        report = await cycle.step(clock.at(float(t)))
        cleared += [tuple(tr.key) for tr in report.transitions
                    if tr.kind == "cleared" and _stacked(tuple(tr.key))]
        for key in _raised(report):
            assert key not in raised_when, f"{key} raised twice"
            raised_when[key] = t
    assert sorted(cleared) == sorted(k for k in stacked if _id(k[2]) == "y0")
    later = sorted((raised_when[k], k) for k in raised_when
                   if raised_when[k] >= 12 and _stacked(k))
    assert len(later) == STACKED  # the room of the six cleared ones, refilled
    assert {_id(k[2]) for _, k in later} == {"y2"}
    active = await line.store.interact(lambda repo: repo.alerts(party="rogue", active_only=True))
    assert len(active) == ACTIVE


async def test_a_party_with_no_room_never_hides_a_conflict_from_another(
        line: Line, clock: FakeClock) -> None:
    line = _bounded(line)
    who = await _stack(line)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    for t in range(8):
        await cycle.step(clock.at(float(t)))
    assert len(await events(line, "rogue", "alert.raised")) == ACTIVE  # rogue is full
    # a rogue aircraft parks on blue's, far from the stack
    await tracks.report_tracks(line, who["rogue"], [_at("x-9", 8.0, lon=41.0)], T0 + 8)
    await tracks.report_tracks(line, who["blue"], [_at("blue-9", 8.0, 200.0, lon=41.0)], T0 + 8)
    for t in (8, 9):
        report = await cycle.step(clock.at(float(t)))
    assert [(k[0], _id(k[1]), _id(k[2])) for k in _raised(report)] == [
        ("loss_of_separation", "blue-9", "x-9")]
    (told,) = await events(line, "blue", "alert.raised")
    assert told.data["alert_kind"] == "loss_of_separation"


async def test_aircraft_stacked_in_a_constraint_raise_incursions_within_the_caps(
        line: Line, clock: FakeClock) -> None:
    line = _bounded(line)
    who = await add_parties(line, rogue=Role.OPERATOR, blue=Role.OPERATOR, un=Role.AUTHORITY)
    await constraints.publish_constraint(line, who["un"], constraints.PublishConstraint(
        ConstraintKind.NO_FLY, (Volume(CircleFootprint((42.0, LAT), 5000.0), 0.0, 10_000.0,
                                       T0, T0 + 3600),), "closed"), T0)
    await tracks.report_tracks(line, who["rogue"], [
        _at(f"x{k}", 0.0, 10.0 * k, lon=42.0) for k in range(ACTIVE + 3)], T0)
    # blue's aircraft in it too, 2 km above rogue's (no conflict with them)
    await tracks.report_tracks(line, who["blue"], [
        StateReport("blue-1", T0, LAT, 42.0, ALT + 2000.0, 0.0, 0.0, 0.0)], T0)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    raised_when: dict[tuple[str, ...], int] = {}
    for t in range(10):
        report = await cycle.step(clock.at(float(t)))
        raised = _raised(report)
        assert all(k[0] == "constraint_incursion" for k in raised)
        assert sum(_stacked(k) for k in raised) <= PER_CYCLE
        for key in raised:
            assert key not in raised_when, f"{key} raised twice"
            raised_when[key] = t
    assert sum(_stacked(k) for k in raised_when) == ACTIVE
    # blue's own incursion is not held back behind rogue's, although the authority's room is
    (blue,) = [k for k in raised_when if not _stacked(k)]
    assert (_id(blue[1]), raised_when[blue]) == ("blue-1", 1)
    assert report.held_back["rogue"] == 3
    assert len(await events(line, "un", "alert.capped")) == 1
    assert len(await events(line, "blue", "alert.raised")) == 1
