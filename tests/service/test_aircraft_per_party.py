"""Aircraft identity per party, through the service on both backends: an id (or ICAO address)
another party uses is neither refused nor told, names a different aircraft, and cannot be used
to read or alter the other party's; the detection cycle keeps two parties' same-id aircraft
apart, and each side's alert view shows only what the access policy allows.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from deconfliction.model.party import Role
from deconfliction.model.track import UNIDENTIFIED, Aircraft, StateReport
from deconfliction.service import tracks
from deconfliction.service.errors import AlreadyExists, LimitExceeded
from deconfliction.service.line import Line
from deconfliction.service.tactical import DetectionCycle
from deconfliction.service.tracks import FeedState
from support.service_level import T0, FakeClock, add_parties, counter, events

pytestmark = pytest.mark.anyio

LAT = 36.2


def _state(aircraft_id: str, lon: float, heading: float = 90.0, t: float = T0) -> StateReport:
    return StateReport(aircraft_id, t, LAT, lon, 7600.0, 230.0, heading, 0.0)


async def test_two_parties_use_one_id_as_two_aircraft(line: Line) -> None:
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR, watch=Role.OBSERVER)
    await tracks.register_aircraft(line, who["blue"], Aircraft("AB123", "blue", None, "BLU1"))
    # red's registration and report of the same id: its own aircraft, no refusal
    mine = await tracks.register_aircraft(line, who["red"], Aircraft("AB123", "red", None, "RED1"))
    assert (mine.party, mine.callsign) == ("red", "RED1")
    for party, lon in (("blue", 37.0), ("red", 39.0)):
        done = await tracks.report_tracks(line, who[party], [_state("AB123", lon)], T0)
        assert (done.accepted, done.ignored) == (1, 0)
    # red reporting "AB123" again moves its own aircraft, never blue's
    await tracks.report_tracks(line, who["red"], [_state("AB123", 39.5, t=T0 + 1)], T0 + 1)

    def seen(party: str) -> list[tuple[str, str, float]]:
        return [(t.party, t.state.aircraft_id, t.state.lon) for t in found[party]]

    found = {p: await tracks.list_tracks(line, who[p]) for p in ("blue", "red", "watch")}
    assert seen("blue") == [("blue", "AB123", 37.0)]
    assert seen("red") == [("red", "AB123", 39.5)]
    assert sorted(seen("watch")) == [("blue", "AB123", 37.0), ("red", "AB123", 39.5)]
    listed = {p: await tracks.list_aircraft(line, who[p]) for p in ("blue", "red", "watch")}
    assert [(a.party, a.callsign) for a in listed["blue"]] == [("blue", "BLU1")]
    assert [(a.party, a.callsign) for a in listed["red"]] == [("red", "RED1")]
    assert sorted((a.party, a.id) for a in listed["watch"]) == [("blue", "AB123"),
                                                               ("red", "AB123")]
    # each party's ledger entry for its batch names it alone
    leaves = await line.store.interact(lambda repo: repo.ledger_leaves(0, 1000))
    reported = [leaf for leaf in leaves if leaf.kind == "tracks.reported"]
    assert sorted(leaf.parties for leaf in reported) == [("blue",), ("red",), ("red",)]


async def test_new_aircraft_limits_count_the_partys_own_ids_only(line: Line) -> None:
    line = replace(line, settings=replace(line.settings, limits=replace(
        line.settings.limits, new_aircraft_per_batch=2)))
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    ids = ["X1", "X2", "X3"]
    await tracks.report_tracks(line, who["blue"], [_state(i, 37.0) for i in ids[:2]], T0)
    await tracks.report_tracks(line, who["blue"], [_state(ids[2], 37.0)], T0)
    # blue flies all three; to red they are three new ids of its own, whoever else uses them
    with pytest.raises(LimitExceeded):
        await tracks.report_tracks(line, who["red"], [_state(i, 38.0) for i in ids], T0)


async def test_an_icao_address_is_each_partys_own_claim(line: Line) -> None:
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    blue, red = who["blue"], who["red"]
    await tracks.register_aircraft(line, blue, Aircraft("blue-1", "blue", "abc123"))
    # the feed's states for an address one party registered are that party's
    await tracks.ingest_feed(line, [FeedState("abc123", "BLU1", _state("", 37.0))], T0)
    assert [t.state.aircraft_id for t in await tracks.list_tracks(line, blue)] == ["blue-1"]
    # red claiming blue's address is not refused and takes nothing from blue
    got = await tracks.register_aircraft(line, red, Aircraft("red-1", "red", "abc123"))
    assert got.icao24 == "abc123"
    assert [a.icao24 for a in await tracks.list_aircraft(line, blue)] == ["abc123"]
    # a party's own address on two of its aircraft is its own mistake: refused
    with pytest.raises(AlreadyExists):
        await tracks.register_aircraft(line, blue, Aircraft("blue-2", "blue", "abc123"))
    # a contested address feeds neither claimant: the line cannot tell whose it is
    await tracks.ingest_feed(line, [FeedState("abc123", "BLU1", _state("", 37.1, t=T0 + 1))],
                             T0 + 1)
    assert [t.state.aircraft_id for t in await tracks.list_tracks(line, red)] == []
    everything = await line.store.interact(lambda repo: repo.tracks())
    latest = {(t.party, t.state.aircraft_id): t.state.lon for t in everything}
    assert latest == {("blue", "blue-1"): 37.0, (UNIDENTIFIED, "icao:abc123"): 37.1}


async def test_a_feed_batch_is_recorded_one_entry_per_party(line: Line) -> None:
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    await tracks.register_aircraft(line, who["blue"], Aircraft("AB1", "blue", "aaaaa1"))
    await tracks.register_aircraft(line, who["red"], Aircraft("AB1", "red", "bbbbb2"))
    await tracks.ingest_feed(line, [FeedState("aaaaa1", None, _state("", 37.0)),
                                    FeedState("bbbbb2", None, _state("", 38.0))], T0)
    leaves = await line.store.interact(lambda repo: repo.ledger_leaves(0, 1000))
    bodies = {leaf.parties: leaf.content()["body"] for leaf in leaves
              if leaf.kind == "tracks.reported"}
    assert {p: b["aircraft"] for p, b in bodies.items()} == {("blue",): ["AB1"],
                                                             ("red",): ["AB1"]}


async def test_same_id_aircraft_of_two_parties_in_one_alert(line: Line, clock: FakeClock) -> None:
    """Head on, both named "AB1"; green's "AB1" converges on both from the north: three pairs,
    three alerts (none merged under one id), each side seeing its own aircraft only."""
    line = replace(line, settings=replace(line.settings, track_drop_s=60.0))
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR, green=Role.OPERATOR,
                            watch=Role.OBSERVER)
    for party, lon, heading in (("blue", 37.0, 90.0), ("red", 37.2, 270.0)):
        await tracks.register_aircraft(line, who[party], Aircraft("AB1", party, None,
                                                                  f"{party.upper()}1"))
        await tracks.report_tracks(line, who[party], [_state("AB1", lon, heading)], T0)
    await tracks.report_tracks(line, who["green"], [
        StateReport("AB1", T0, LAT + 0.05, 37.1, 7600.0, 60.0, 180.0, 0.0)], T0)
    cycle = DetectionCycle(line, new_id=counter("alert").__next__)
    for t in (0.0, 1.0):
        await cycle.step(clock.at(t))
    active = await line.store.interact(lambda repo: repo.alerts(active_only=True))
    pairs = sorted(a.key for a in active if a.kind.value == "conflict")
    assert pairs == [("conflict", "blue/AB1", "green/AB1"), ("conflict", "blue/AB1", "red/AB1"),
                     ("conflict", "green/AB1", "red/AB1")]

    (blue_red,) = [a for a in active if a.key == ("conflict", "blue/AB1", "red/AB1")]
    for party in ("blue", "red"):
        (told,) = await events(line, party, "alert.raised", alert_id=blue_red.id)
        own, other = sorted(told.data["aircraft"], key=lambda side: not side["own"])
        assert (own["aircraft_id"], own["party"], own["callsign"]) == (
            "AB1", party, f"{party.upper()}1")
        assert set(other) == {"own", "state"}, "the other side: its state, never identity"
    leaves = await line.store.interact(lambda repo: repo.ledger_leaves(0, 1000))
    views = {leaf.parties: leaf.content()["body"] for leaf in leaves
             if leaf.kind == "alert.raised" and leaf.content()["body"]["id"] == blue_red.id}
    assert views[("blue",)]["key"] == [blue_red.id, "AB1"]
    assert views[("red",)]["key"] == [blue_red.id, "AB1"]
    assert views[()]["key"] == ["conflict", "blue/AB1", "red/AB1"]  # observers: the truth

    # a restarted cycle picks the alerts up again under the same keys: nothing raised anew
    second = DetectionCycle(line, new_id=counter("again").__next__)
    report = await second.step(clock.at(2.0))
    assert [tr.kind for tr in report.transitions if tr.kind == "raised"] == []
