"""Repository functions for the live picture: aircraft registry, tracks, alerts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from deconfliction.model.alert import (
    Alert,
    AlertKind,
    AlertState,
    details_from_json,
    details_to_json,
)
from deconfliction.model.track import Aircraft, StateReport, Track
from deconfliction.store.keyset import after_key
from deconfliction.store.schema import aircraft, alert, alert_party, track
from deconfliction.store.unit_of_work import ThreadConnection

_STATE_COLUMNS = ("lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
                  "vertical_rate_mps")


def _by_party(keys: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """(party, aircraft id) keys grouped by party: one statement per party (most batches are
    one party's), each id once."""
    grouped: dict[str, dict[str, None]] = {}
    for party, aircraft_id in keys:
        grouped.setdefault(party, {})[aircraft_id] = None
    return {party: list(ids) for party, ids in grouped.items()}


def _aircraft(row: Row[Any]) -> Aircraft:
    return Aircraft(row.id, row.party, row.icao24, row.callsign, row.operation_id)


def _track(row: Row[Any]) -> Track:
    state = StateReport(row.aircraft_id, row.time, row.lat, row.lon, row.altitude_m,
                        row.ground_speed_mps, row.track_deg, row.vertical_rate_mps)
    return Track(row.party, state, row.received_at)


def _alert(row: Row[Any]) -> Alert:
    kind = AlertKind(row.kind)
    return Alert(row.id, kind, tuple(json.loads(row.key)),
                 tuple(json.loads(row.parties)), AlertState(row.state), row.raised_at,
                 row.updated_at, row.cleared_at, details_from_json(kind, json.loads(row.details)))


class TacticalSql:
    """Mixed into the SQL repository; shares its connection."""

    _c: ThreadConnection

    async def _upsert(self, table: Table, key: tuple[str, ...],
                      rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows``, or update the rows already under their ``key``, in one statement
        (INSERT … ON CONFLICT, which SQLite and PostgreSQL and their kin speak). Two writers
        racing to add one key do not fail: on PostgreSQL the later one is a serialization
        failure, retried, where an update-then-insert would be a unique violation."""
        if not rows:
            return
        make = sqlite_insert if self._c.sync.dialect.name == "sqlite" else postgresql_insert
        statement = make(table)
        await self._c.execute(statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c.name: statement.excluded[c.name] for c in table.columns
                  if c.name not in key}), list(rows))

    # aircraft registry ---------------------------------------------------------------------
    # An aircraft is (party, id): ids are each party's own (schema.aircraft).
    async def put_aircraft(self, a: Aircraft) -> None:
        await self._upsert(aircraft, ("party", "id"), [
            {"party": a.party, "id": a.id, "icao24": a.icao24, "callsign": a.callsign,
             "operation_id": a.operation_id}])

    async def aircraft(
        self, ids: Sequence[str] | None = None, *, party: str | None = None,
        after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Aircraft]:
        query = after_key(select(aircraft), [(aircraft.c.id, False), (aircraft.c.party, False)],
                          after, limit)
        if ids is not None:
            if not ids:
                return []
            query = query.where(aircraft.c.id.in_(list(ids)))
        if party is not None:
            query = query.where(aircraft.c.party == party)
        return [_aircraft(r) for r in await self._c.execute(query)]

    async def aircraft_by_icao24(self, icao24: Sequence[str]) -> list[Aircraft]:
        if not icao24:
            return []
        query = select(aircraft).where(aircraft.c.icao24.in_(list(icao24))).order_by(
            aircraft.c.icao24, aircraft.c.party)
        return [_aircraft(r) for r in await self._c.execute(query)]

    # tracks ---------------------------------------------------------------------------------
    async def track_times(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for party, ids in _by_party(keys).items():
            query = select(track.c.aircraft_id, track.c.time).where(
                track.c.party == party, track.c.aircraft_id.in_(ids))
            found.update({(party, r.aircraft_id): r.time for r in await self._c.execute(query)})
        return found

    async def put_tracks(self, tracks: Sequence[Track]) -> None:
        """Store these as the latest states (callers have checked they are newer)."""
        if not tracks:
            return
        await self._upsert(track, ("party", "aircraft_id"), [
            {"aircraft_id": t.state.aircraft_id, "party": t.party, "time": t.state.time,
             "received_at": t.received_at,
             **{c: getattr(t.state, c) for c in _STATE_COLUMNS}}
            for t in tracks
        ])

    async def tracks(
        self, *, party: str | None = None, after: Sequence[Any] | None = None,
        limit: int | None = None,
    ) -> list[Track]:
        query = after_key(select(track), [(track.c.aircraft_id, False), (track.c.party, False)],
                          after, limit)
        if party is not None:
            query = query.where(track.c.party == party)
        return [_track(r) for r in await self._c.execute(query)]

    async def drop_tracks(self, keys: Sequence[tuple[str, str]]) -> None:
        for party, ids in _by_party(keys).items():
            await self._c.execute(delete(track).where(track.c.party == party,
                                                      track.c.aircraft_id.in_(ids)))

    # alerts ---------------------------------------------------------------------------------
    @staticmethod
    def _alert_values(a: Alert) -> dict[str, Any]:
        return dict(kind=a.kind.value, key=json.dumps(list(a.key)),
                    parties=json.dumps(list(a.parties)), state=a.state.value,
                    raised_at=a.raised_at, updated_at=a.updated_at, cleared_at=a.cleared_at,
                    details=json.dumps(details_to_json(a.details)))

    async def put_alert(self, a: Alert) -> None:
        """Store ``a`` (inserted or replaced). Its ledger leaves are the service's
        (``service.tactical``: one per reader view)."""
        result = await self._c.execute(update(alert).where(alert.c.id == a.id)
                                       .values(**self._alert_values(a)))
        if result.rowcount != 0:
            return
        await self._c.execute(insert(alert).values(id=a.id, **self._alert_values(a)))
        if a.parties:
            await self._c.execute(insert(alert_party), [
                {"alert_id": a.id, "party": p} for p in sorted(set(a.parties))])

    async def alerts(
        self, *, party: str | None = None, active_only: bool = False, limit: int = 1000,
        after: Sequence[Any] | None = None,
    ) -> list[Alert]:
        query = after_key(select(alert), [(alert.c.raised_at, True), (alert.c.id, False)],
                          after, limit)
        if party is not None:
            query = query.where(alert.c.id.in_(
                select(alert_party.c.alert_id).where(alert_party.c.party == party)))
        if active_only:
            query = query.where(alert.c.state == AlertState.RAISED.value)
        return [_alert(r) for r in await self._c.execute(query)]
