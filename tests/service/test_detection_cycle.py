"""The tactical detection cycle on a real store with a fake clock, both backends: the alert
lifecycle (raised on 2 of the last 4 cycles, cleared 5 s after its last detection), a conflict
turning into a loss of separation, alerts surviving a restart of the cycle, and silent tracks
dropped after ``track_drop_s`` with an event for their party only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from deconfliction.model.party import Role
from deconfliction.model.time import rfc3339
from deconfliction.model.track import StateReport
from deconfliction.service import tracks
from deconfliction.service.line import TRACK_DROP_S, Line
from deconfliction.service.tactical import DetectionCycle
from support.service_level import T0, FakeClock, add_parties, counter, events

pytestmark = pytest.mark.anyio

LAT = 36.2
SPEED = 230.0  # m/s each, closing at 460 m/s


async def _head_on(line: Line):
    """blue's and red's aircraft at one altitude, 0.2° of longitude (about 18 km) apart,
    flying at each other: a conflict within the 120 s look-ahead, separation lost ~19 s on."""
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR, green=Role.OPERATOR,
                            watch=Role.OBSERVER)
    for party, aid, lon, heading in (("blue", "blue-1", 37.0, 90.0),
                                     ("red", "red-1", 37.2, 270.0)):
        await tracks.report_tracks(line, who[party], [
            StateReport(aid, T0, LAT, lon, 7600.0, SPEED, heading, 0.0)], T0)
    return who


async def test_conflict_raised_on_the_second_cycle_then_loss_of_separation_and_clear(
        line: Line, clock: FakeClock) -> None:
    # reported once, extrapolated every cycle: keep the tracks for the whole 40 s
    line = replace(line, settings=replace(line.settings, track_drop_s=60.0))
    await _head_on(line)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    history: list[tuple[float, str, str]] = []  # (seconds after T0, transition, alert kind)
    for t in range(0, 19):
        report = await cycle.step(clock.at(float(t)))
        assert report.tracks == 2 and report.dropped == 0
        history += [(t, tr.kind, tr.key[0]) for tr in report.transitions]
    # detected from the first cycle, raised on the second (2 of the last 4)
    assert history[0] == (1, "raised", "conflict")
    raised = {p: await events(line, p, "alert.raised") for p in ("blue", "red", "green")}
    assert [(e.data["alert_kind"], e.time) for e in raised["blue"]] == [("conflict", T0 + 1)]
    assert [(e.data["alert_kind"], e.time) for e in raised["red"]] == [("conflict", T0 + 1)]
    assert raised["green"] == []  # concerned by nothing

    for t in range(19, 40):  # the aircraft pass each other: separation lost, then regained
        report = await cycle.step(clock.at(float(t)))
        history += [(t, tr.kind, tr.key[0]) for tr in report.transitions]
    raised_los = [t for t, kind, what in history if (kind, what) == ("raised",
                                                                      "loss_of_separation")]
    cleared = [t for t, kind, what in history if (kind, what) == ("cleared", "conflict")]
    assert len(raised_los) == 1 and len(cleared) == 1, history
    assert not [h for h in history if h[2] == "loss_of_separation" and h[1] == "cleared"]
    # loss of separation detected from raised_los - 1 on: the conflict (the same pair, kind
    # "conflict") was last detected one cycle before that, and clears 5 s after
    assert cleared[0] == raised_los[0] - 2 + 5, history
    told = await events(line, "blue", "alert.cleared")
    assert [e.time for e in told] == [T0 + cleared[0]]


async def test_a_restarted_cycle_keeps_raised_alerts(line: Line, clock: FakeClock) -> None:
    await _head_on(line)
    first = DetectionCycle(line, new_id=counter("first").__next__)
    for t in (0.0, 1.0):
        await first.step(clock.at(t))
    (raised,) = await events(line, "blue", "alert.raised")
    # a new process's cycle reads the active alerts back: still detected, nothing new raised
    second = DetectionCycle(line, new_id=counter("second").__next__)
    for t in (2.0, 3.0, 4.0):
        report = await second.step(clock.at(t))
        assert [tr.kind for tr in report.transitions if tr.kind == "raised"] == []
    assert len(await events(line, "blue", "alert.raised")) == 1
    alerts = await line.store.interact(lambda repo: repo.alerts(active_only=True))
    assert [a.id for a in alerts] == [raised.data["alert_id"]]


async def test_silent_tracks_are_dropped_after_track_drop_s_and_their_party_told(
        line: Line, clock: FakeClock) -> None:
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    for party, aid, lon in (("blue", "blue-1", 37.0), ("red", "red-1", 38.0)):
        await tracks.report_tracks(line, who[party], [
            StateReport(aid, T0, LAT, lon, 3000.0, 0.0, 0.0, 0.0)], T0)
    cycle = DetectionCycle(line)
    # red reports again 15 s on; blue stays silent
    await tracks.report_tracks(line, who["red"], [
        StateReport("red-1", T0 + 15, LAT, 38.0, 3000.0, 0.0, 0.0, 0.0)], T0 + 15)

    report = await cycle.step(clock.at(TRACK_DROP_S))  # silent exactly track_drop_s: kept
    assert (report.tracks, report.dropped) == (2, 0)
    report = await cycle.step(clock.at(TRACK_DROP_S + 0.5))
    assert (report.tracks, report.dropped) == (1, 1)
    left = await line.store.interact(lambda repo: repo.tracks())
    assert [t.state.aircraft_id for t in left] == ["red-1"]
    (dropped,) = await events(line, "blue", "track.dropped")
    assert dropped.data == {"aircraft_id": "blue-1", "last_report": rfc3339(T0)}
    assert dropped.time == T0 + TRACK_DROP_S + 0.5
    assert await events(line, "red", "track.dropped") == []  # told to its party only

    report = await cycle.step(clock.at(15 + TRACK_DROP_S + 0.5))
    assert (report.tracks, report.dropped) == (0, 1)
    assert [e.data["aircraft_id"] for e in await events(line, "red", "track.dropped")] == [
        "red-1"]
