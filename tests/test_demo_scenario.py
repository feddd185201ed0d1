"""The demo's day: every declaration is accepted as filed, and over one lap of the scripted
circuits the line's own detectors (engine.tactical, engine.incursion, engine.conformance) see
exactly the deviations the script promises, early enough for the first two minutes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import numpy as np
import pytest

from deconfliction.cli import demo
from deconfliction.engine.conformance import outside_volumes
from deconfliction.engine.geodesy import WGS84
from deconfliction.engine.incursion import detect_incursions
from deconfliction.engine.tactical import detect_conflicts
from deconfliction.feeds.sbs import StateVector
from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.profiles import BUILTIN_PROFILES, DEFAULT_PROFILE
from deconfliction.model.track import TrackArrays
from deconfliction.service.line import Line
from deconfliction.store.sqlite import SqliteStore

START = 1_800_000_000.0
PROFILE = BUILTIN_PROFILES[DEFAULT_PROFILE]  # en-route: 5 NM / 1000 ft, 120 s look-ahead
AIRBORNE = [s for s in demo.STATIONS]  # flying from the start


def runs(seconds: list[int]) -> list[tuple[int, int]]:
    """Consecutive seconds as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for t in seconds:
        if out and t == out[-1][1] + 1:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


@pytest.fixture(scope="module")
def lap() -> dict[tuple[str, ...], list[int]]:
    """Per detection — ("conflict"|"lost", a, b), ("incursion"|"inside", a), ("outside", a) —
    the seconds of one lap at which the engine reports it, one cycle a second."""
    fleet = [(s, s.aircraft()) for s in AIRBORNE]
    owners = sorted({s.owner for s in AIRBORNE})
    party = np.array([owners.index(s.owner) for s, _ in fleet])
    zone = demo.no_fly_zone(START - 3600, START + 86400)
    seen: dict[tuple[str, ...], list[int]] = defaultdict(list)
    closest: dict[tuple[str, str], float] = {}
    for t in range(int(demo.LAP_S)):
        now = START + t
        r = [a.report(float(t), at=now) for _, a in fleet]
        lat, lon, alt = (np.array([getattr(x, k) for x in r]) for k in ("lat", "lon", "altitude_m"))
        gs, trk = (np.array([getattr(x, k) for x in r]) for k in ("ground_speed_mps", "track_deg"))
        vs = np.zeros(len(r))
        tracks = TrackArrays([s.callsign for s, _ in fleet], lat, lon, alt, gs, trk, vs, party,
                             time_s=now)
        enc = detect_conflicts(tracks, horizontal_m=PROFILE.horizontal_m,
                               vertical_m=PROFILE.vertical_m, look_ahead_s=PROFILE.look_ahead_s)
        for k in range(len(enc)):
            pair = sorted((fleet[int(enc.i[k])][0].callsign, fleet[int(enc.j[k])][0].callsign))
            seen[("lost" if enc.lost_now[k] else "conflict", *pair)].append(t)
        inc = detect_incursions(tracks, [zone], look_ahead_s=PROFILE.look_ahead_s)
        for k in range(len(inc)):
            callsign = fleet[int(inc.track_index[k])][0].callsign
            seen[("inside" if inc.inside_now[k] else "incursion", callsign)].append(t)
        for i, (sortie, _) in enumerate(fleet):
            if outside_volumes(lat[i:i + 1], lon[i:i + 1], alt[i:i + 1], now,
                               [sortie.volume(START)])[0]:
                seen[("outside", sortie.callsign)].append(t)
            for j in range(i + 1, len(fleet)):
                if fleet[j][0].owner != sortie.owner:
                    d = WGS84.inv(lon[i], lat[i], lon[j], lat[j])[2]
                    pair = (sortie.callsign, fleet[j][0].callsign)
                    closest[pair] = min(closest.get(pair, np.inf), d)
    seen[("closest",)] = [round(min(closest.values()))]
    return dict(seen)


def test_tactical_conflicts_predicted_then_resolved_by_a_turn(lap) -> None:
    conflicts = {k for k in lap if k[0] in ("conflict", "lost")}
    assert conflicts == {("conflict", "GRACH 2", "TEXACO 11"), ("conflict", "BERKUT 5", "VIPER 21")}
    # GRACH 2's run at the tanker: predicted at once, GRACH 2 turns away by 40 s
    (first, last), *others = runs(lap[("conflict", "GRACH 2", "TEXACO 11")])
    assert first == 0 and 20 <= last <= 40
    assert others in ([], [(599, 599)])  # (the next lap's run-in)
    # BERKUT 5 and VIPER 21 head for the gap between their boxes every 5 minutes
    meetings = runs(lap[("conflict", "BERKUT 5", "VIPER 21")])
    assert [first // 300 for first, _ in meetings] == [0, 1]
    assert all(10 <= last - first <= 40 for first, last in meetings)
    assert lap[("closest",)][0] > PROFILE.horizontal_m * 1.3  # never even close to a loss


def test_one_incursion_predicted_within_a_minute_and_flown_into_the_zone(lap) -> None:
    assert {k[1] for k in lap if k[0] in ("incursion", "inside")} == {"SOKOL 1"}
    (first, last), = runs(sorted(lap[("incursion", "SOKOL 1")] + lap[("inside", "SOKOL 1")]))
    assert first <= 40 and last > 150  # called early, still there two minutes in
    assert len(lap[("inside", "SOKOL 1")]) >= 30  # half a minute over the city


def test_leaving_the_declared_volume(lap) -> None:
    outside = {k[1]: runs(v) for k, v in lap.items() if k[0] == "outside"}
    assert set(outside) == {"ORLAN 7", "SOKOL 1"}  # the drone drifts; SOKOL 1's dash
    (first, last), = outside["ORLAN 7"]
    assert first <= 20 and last - first > 70  # nonconforming after 10 s, contingent after 70 s
    (first, last), = outside["SOKOL 1"]
    assert first < 120 < last


def test_two_minutes_in_alerts_are_showing(lap) -> None:
    """The acceptance screenshot is taken two minutes in: something must be raised then."""
    live = [k for k, seconds in lap.items() if k[0] != "closest" and 120 in seconds]
    assert {k[0] for k in live} >= {"incursion", "outside"}


@pytest.mark.parametrize("sortie", demo.LATER + (demo.SHORT_NOTICE,),
                         ids=lambda s: s.callsign)
def test_patrols_of_the_later_sorties_stay_in_their_volumes(sortie) -> None:
    aircraft = sortie.aircraft()
    volume = sortie.volume(START)
    t = np.arange(volume.time_start - START, volume.time_start - START + aircraft.lap_s, 3.0)
    r = [aircraft.report(float(x), at=START + x) for x in t]
    lat, lon, alt = (np.array([getattr(x, k) for x in r]) for k in ("lat", "lon", "altitude_m"))
    assert not outside_volumes(lat, lon, alt, START + t, [volume]).any()


def test_the_day_is_accepted_as_filed(tmp_path) -> None:
    async def go() -> tuple[demo.Demo, list, list, list]:
        line = Line(SqliteStore.open(tmp_path / "demo.db"))
        try:
            day = await demo.seed(line, START)
            ops = await line.store.interact(lambda repo: repo.operations())
            zones = await line.store.interact(lambda repo: repo.constraints())
            told = await line.store.interact(
                lambda repo: repo.events("west-aoc", after=0, limit=100))
            return day, ops, zones, told
        finally:
            await line.store.close()

    day, ops, zones, told = asyncio.run(go())
    assert set(day.tokens) == {"west-aoc", "east-aoc", "observer-mission", "monitor"}
    assert {o.callsigns[0] for o in ops} == {s.callsign for s in day.sorties}
    assert {o.callsigns[0] for o in ops if o.short_notice} == {"REAPER 3"}
    assert {o.owner for o in ops} == {"west-aoc", "east-aoc"}
    (zone,) = zones
    assert (zone.kind, zone.authority, zone.applies_to) == (
        ConstraintKind.NO_FLY, "observer-mission", None)
    # GRACH 2 was filed over TEXACO 11 knowingly: west-aoc was told
    conflict = [e for e in told if e.kind == "operation.conflict"]
    assert [e.data["operation_id"] for e in conflict] == [day.operations["GRACH 2"]]
    assert conflict[0].data["conflicts_with"] == [day.operations["TEXACO 11"]]


def test_real_traffic_is_replayed_as_if_recorded_now(tmp_path) -> None:
    """Recorded states (2021) go into the line at their own pace, shifted to now, as
    unidentified aircraft (no party claims them)."""
    recorded = 1_633_608_001.0  # 2021-10-07T12:00:01Z, the OpenSky sample's first second
    states = [StateVector(f"39{k:04x}", f"AFR{k}", recorded + t, 48.5 + 0.01 * t, 2.3 + k,
                          9_000.0, 220.0, 0.0, 0.0, False)
              for t in range(0, 20) for k in range(3)]

    async def go() -> tuple[float, list]:
        line = Line(SqliteStore.open(tmp_path / "real.db"))
        stop = asyncio.Event()
        try:
            started = line.clock()
            replaying = asyncio.create_task(demo.replay_sample(line, states, stop))
            await asyncio.sleep(2.5)
            stop.set()
            await replaying
            return started, await line.store.interact(lambda repo: repo.tracks())
        finally:
            await line.store.close()

    started, found = asyncio.run(go())
    assert {t.state.aircraft_id for t in found} == {"icao:390000", "icao:390001", "icao:390002"}
    assert {t.party for t in found} == {"unidentified"}
    for t in found:  # the latest state fed is 1-3 s into the recording, stamped that much later
        assert 1.0 <= t.state.time - started <= 3.5
        assert t.state.lat == pytest.approx(48.5 + 0.01 * round(t.state.time - started), abs=0.011)
