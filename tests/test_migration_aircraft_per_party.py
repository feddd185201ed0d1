"""Migration 0006 (aircraft identity per party) on both backends: a database made by the
previous schema (revision 0005) upgrades without losing a row of the registry, the tracks or the
alerts, raised alerts' keys name their aircraft as the detection cycle now does, and the same id
can then be used by a second party.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from deconfliction.model.alert import (
    AircraftSide,
    AircraftState,
    ConstraintRef,
    Encounter,
    EncounterFigures,
    Incursion,
    details_to_json,
)
from deconfliction.model.track import UNIDENTIFIED, Aircraft, StateReport, Track
from deconfliction.store.migrate import MIGRATIONS

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


def _sync_url(db) -> str:
    if db.backend == "sqlite":
        return f"sqlite:///{db.path}"
    return "postgresql+psycopg://" + db.url.removeprefix("postgresql://")


def _side(party: str, aircraft_id: str) -> AircraftSide:
    return AircraftSide(party, aircraft_id, None, None,
                        AircraftState(T0, 36.0, 37.0, 3000.0, 100.0, 90.0, 0.0))


def _alert_row(alert_id: str, kind: str, key: list[str], details, state: str = "raised"):
    return {"id": alert_id, "kind": kind, "key": json.dumps(key), "parties": '["blue", "red"]',
            "state": state, "raised_at": T0, "updated_at": T0,
            "cleared_at": None if state == "raised" else T0 + 9,
            "details": json.dumps(details_to_json(details))}


def _made_by_the_previous_schema(db) -> None:
    """Revision 0005, holding rows as the line wrote them before ids were per party."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(_sync_url(db))
    figures = EncounterFigures(10.0, 30.0, 20.0, 500.0, 0.0, False)
    try:
        with engine.begin() as c:
            config.attributes["connection"] = c
            command.upgrade(config, "0005")
            c.execute(sa.text(
                "INSERT INTO aircraft (id, party, icao24, callsign, operation_id) "
                "VALUES (:id, :party, :icao24, :callsign, NULL)"), [
                {"id": "blue-1", "party": "blue", "icao24": "abc123", "callsign": "BLU1"},
                {"id": "a-red", "party": "red", "icao24": None, "callsign": None},
                {"id": "icao:def456", "party": UNIDENTIFIED, "icao24": "def456",
                 "callsign": "XYZ9"}])
            state = {"lat": 36.0, "lon": 37.0, "altitude_m": 3000.0, "ground_speed_mps": 100.0,
                     "track_deg": 90.0, "vertical_rate_mps": 0.0, "received_at": T0}
            c.execute(sa.text(
                "INSERT INTO track (aircraft_id, party, time, lat, lon, altitude_m, "
                "ground_speed_mps, track_deg, vertical_rate_mps, received_at) VALUES "
                "(:aircraft_id, :party, :time, :lat, :lon, :altitude_m, :ground_speed_mps, "
                ":track_deg, :vertical_rate_mps, :received_at)"), [
                {"aircraft_id": "blue-1", "party": "blue", "time": T0, **state},
                {"aircraft_id": "a-red", "party": "red", "time": T0 + 1, **state}])
            pair = Encounter((_side("red", "a-red"), _side("blue", "blue-1")), figures, "en-route")
            c.execute(sa.text(
                "INSERT INTO alert (id, kind, key, parties, state, raised_at, updated_at, "
                "cleared_at, details) VALUES (:id, :kind, :key, :parties, :state, :raised_at, "
                ":updated_at, :cleared_at, :details)"), [
                _alert_row("al-1", "conflict", ["conflict", "a-red", "blue-1"], pair),
                _alert_row("al-2", "constraint_incursion",
                           ["constraint_incursion", "blue-1", "c-1"],
                           Incursion(_side("blue", "blue-1"),
                                     ConstraintRef("c-1", "no-fly", "no_fly", "un"), True, 0.0)),
                _alert_row("al-3", "conflict", ["conflict", "a-red", "blue-1"], pair,
                           state="cleared")])
    finally:
        engine.dispose()


async def test_upgrade_keeps_every_row_and_ids_become_per_party(database) -> None:
    _made_by_the_previous_schema(database)
    store = database.open_store()  # migrates to the newest revision
    try:
        registry = await store.interact(lambda repo: repo.aircraft())
        assert sorted(registry, key=lambda a: a.id) == [
            Aircraft("a-red", "red"), Aircraft("blue-1", "blue", "abc123", "BLU1"),
            Aircraft("icao:def456", UNIDENTIFIED, "def456", "XYZ9")]
        held = await store.interact(lambda repo: repo.tracks())
        assert [(t.party, t.state.aircraft_id, t.state.time) for t in held] == [
            ("red", "a-red", T0 + 1), ("blue", "blue-1", T0)]
        alerts = {a.id: a for a in await store.interact(lambda repo: repo.alerts())}
        assert alerts["al-1"].key == ("conflict", "blue/blue-1", "red/a-red")  # sorted again
        assert alerts["al-2"].key == ("constraint_incursion", "blue/blue-1", "c-1")
        assert alerts["al-3"].key == ("conflict", "a-red", "blue-1"), "history is left as is"
        assert alerts["al-1"].details.sides[0].aircraft_id == "a-red"

        # after the upgrade red may use blue's id and address: a second aircraft, not a clash
        async def second_party(repo) -> None:
            await repo.put_aircraft(Aircraft("blue-1", "red", "abc123", "RED1"))
            await repo.put_tracks([Track("red", StateReport(
                "blue-1", T0 + 2, 35.0, 36.0, 1000.0, 50.0, 0.0, 0.0), T0 + 2)])
        await store.transact(second_party)
        both = await store.interact(lambda repo: repo.aircraft(["blue-1"]))
        assert [(a.party, a.callsign) for a in both] == [("blue", "BLU1"), ("red", "RED1")]
        by_address = await store.interact(lambda repo: repo.aircraft_by_icao24(["abc123"]))
        assert [a.party for a in by_address] == ["blue", "red"]
        times = await store.interact(lambda repo: repo.track_times(
            [("blue", "blue-1"), ("red", "blue-1")]))
        assert times == {("blue", "blue-1"): T0, ("red", "blue-1"): T0 + 2}
    finally:
        await store.close()
