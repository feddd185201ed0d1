"""The demo scenario: a day of declared sorties over northern Syria (fictional; places real).

Until the console and the tactical layer land, the demo seeds the strategic picture — two air
operations centres, the observer mission's no-fly zone over Aleppo, deconflicted sorties and
one short-notice declaration — prints each party's token and serves the API.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.party import Party, Role
from deconfliction.model.units import flight_level
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service import constraints, operations, parties
from deconfliction.service.errors import LineError
from deconfliction.service.line import Line
from deconfliction.store.sqlite import SqliteStore

ALEPPO = (37.134, 36.202)  # city centre, lon/lat
PARTIES = (("west-aoc", Role.OPERATOR), ("east-aoc", Role.OPERATOR),
           ("observer-mission", Role.AUTHORITY), ("monitor", Role.OBSERVER))


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> PolygonFootprint:
    return PolygonFootprint((((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1),
                              (lon0, lat0)),))


async def seed(line: Line, now: float) -> dict[str, str]:
    """Parties, the Aleppo no-fly zone and the day's declarations; returns the tokens."""
    tokens: dict[str, str] = {}
    members: dict[str, Party] = {}
    for name, role in PARTIES:
        members[name], tokens[name] = await parties.add_party(line, name, role, now)
    hour = 3600.0
    start = now + 2 * hour
    await constraints.publish_constraint(line, members["observer-mission"],
        constraints.PublishConstraint(
            kind=ConstraintKind.NO_FLY, name="Aleppo: no military flights",
            volumes=(Volume(CircleFootprint(ALEPPO, 15_000.0), 0.0, flight_level(600),
                            now, now + 29 * 86400.0),),
        ), now)
    sorties = [
        # west-aoc: tanker track over Manbij, strike package towards Raqqa/Tabqa
        ("west-aoc", _box(37.80, 36.40, 38.20, 36.70), 250, 300, 0, 4, 5, ["TEXACO 11"]),
        ("west-aoc", _box(38.40, 35.70, 38.90, 36.00), 200, 350, 1, 3, 8, ["VIPER 21"]),
        # east-aoc: Idlib patrol, Kuweires drone orbit
        ("east-aoc", _box(36.45, 35.80, 36.85, 36.05), 200, 330, 0, 5, 6, ["SOKOL 1"]),
        ("east-aoc", CircleFootprint((37.583, 36.187), 12_000.0), 100, 200, 0, 10, 3,
         ["ORLAN 7"]),
        # east-aoc east of Manbij at another time: strategically deconflicted from TEXACO
        ("east-aoc", _box(37.85, 36.45, 38.15, 36.65), 250, 300, 5, 7, 4, ["GRACH 4"]),
    ]
    for owner, footprint, fl_low, fl_high, h0, h1, priority, callsigns in sorties:
        volume = Volume(footprint, flight_level(fl_low), flight_level(fl_high),
                        start + h0 * hour, start + h1 * hour)
        await operations.declare_operation(line, members[owner], operations.DeclareOperation(
            volumes=(volume,), priority=priority, callsigns=tuple(callsigns)), now)
    # short notice: a reconnaissance run starting in 20 minutes, in a clear corridor
    await operations.declare_operation(line, members["west-aoc"], operations.DeclareOperation(
        volumes=(Volume(_box(39.90, 35.20, 40.30, 35.45), flight_level(240), flight_level(280),
                        now + 1200, now + 1200 + 2 * hour),),
        priority=4, callsigns=("REAPER 3",), notes="short-notice ISR (demo)"), now)
    return tokens


def run_demo(db: Path, host: str, port: int) -> int:
    """Fresh database, seeded scenario, tokens printed, API served."""
    import uvicorn

    from deconfliction.api.app import create_app

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = SqliteStore.open(db)
    line = Line(store)
    try:
        tokens = asyncio.run(seed(line, time.time()))
    except LineError as error:
        print(f"demo: seeding failed: {error.detail}", file=sys.stderr)
        return 1
    url = f"http://{host}:{port}"
    print(f"\ndeconfliction demo on {url}  (API docs: {url}/docs, database: {db})\n")
    for name, role in PARTIES:
        print(f"  {name:<18} {role.value:<10} {tokens[name]}")
    print("\ntry:  curl -H 'Authorization: Bearer <token>' " f"{url}/v1/operations\n", flush=True)
    uvicorn.run(create_app(Line(SqliteStore(db))), host=host, port=port, log_level="warning")
    return 0
