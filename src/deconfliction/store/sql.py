"""The repository in SQLAlchemy Core: one implementation of the SQL both backends speak."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Double,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.sql.elements import ColumnElement

from deconfliction.model import fastjson
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.event import Event
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.volume import Volume, footprint_from_geojson, footprint_to_geojson
from deconfliction.store.base import IndexedVolume
from deconfliction.store.hot import hot
from deconfliction.store.keyset import after_key
from deconfliction.store.schema import (
    airspace_constraint,
    event,
    operation,
    party,
    volume,
    volume_cell,
)
from deconfliction.store.sql_hotline import HotlineSql
from deconfliction.store.sql_ledger import LeafBatch, LedgerSql
from deconfliction.store.sql_tactical import TacticalSql
from deconfliction.store.sql_webhooks import WebhookSql
from deconfliction.store.unit_of_work import ThreadConnection

_OPERATION = "operation"
_CONSTRAINT = "constraint"


# Statements on the hot paths are built once (building a statement costs ten times what
# running a cached one does) and run on the driver where it is SQLite's (store.hot).
_APPEND_EVENT = hot(insert(event).from_select(  # the party's next number, and the event
    ["party", "seq", "kind", "time", "data"],
    select(bindparam("e_party", type_=String), func.coalesce(func.max(event.c.seq), 0) + 1,
           bindparam("e_kind", type_=String), bindparam("e_time", type_=Double),
           bindparam("e_data", type_=Text)).where(event.c.party == bindparam("e_party")),
).returning(event.c.seq))
_EVENTS_AFTER = hot(select(event)
                    .where(event.c.party == bindparam("party"), event.c.seq > bindparam("after"))
                    .order_by(event.c.seq).limit(bindparam("limit")))
_PARTY_BY_TOKEN = hot(select(party).where(party.c.token_hash == bindparam("token_hash")))
_PARTIES = hot(select(party).order_by(party.c.name))
_PARTY = hot(select(party).where(party.c.name == bindparam("name")))


def _near(cells: npt.NDArray[np.int64], time_start: float, time_end: float,
          altitude_lower_m: float, altitude_upper_m: float) -> tuple[ColumnElement[bool], ...]:
    """The conditions of an index search: a volume filed under a cell in one of the inclusive
    ``(low, high)`` ranges, overlapping the window and the band (open)."""
    in_cells = select(volume_cell.c.volume_id).where(or_(*(
        volume_cell.c.cell.between(int(lo), int(hi)) for lo, hi in cells)))
    return (volume.c.id.in_(in_cells),
            volume.c.time_start < time_end, volume.c.time_end > time_start,
            volume.c.altitude_lower_m < altitude_upper_m,
            volume.c.altitude_upper_m > altitude_lower_m)


def _volume_from_row(row: Row[Any]) -> Volume:
    return Volume(
        footprint=footprint_from_geojson(json.loads(row.footprint)),
        altitude_lower_m=row.altitude_lower_m,
        altitude_upper_m=row.altitude_upper_m,
        time_start=row.time_start,
        time_end=row.time_end,
    )


def _party_from_row(row: Row[Any]) -> Party:
    return Party(row.name, Role(row.role), row.created_at, row.revoked_at)


class SqlRepository(TacticalSql, HotlineSql, WebhookSql, LedgerSql):
    """Repository functions over one connection (inside whatever transaction it holds).

    They store and read; what the ledger records of a write is the service's
    (``service.evidence``), appended with `append_leaves` in the same unit of work.
    """

    def __init__(self, connection: ThreadConnection, leaf_batch: LeafBatch | None = None) -> None:
        self._c = connection
        self._leaf_batch = leaf_batch  # a group commit's leaves (SQLite), else one insert each
        self.appended: list[Event] = []  # the events this unit of work appended, in order

    # parties -------------------------------------------------------------------------------
    async def add_party(self, p: Party, token_hash: str) -> None:
        await self._c.execute(insert(party).values(
            name=p.name, role=p.role.value, token_hash=token_hash,
            created_at=p.created_at, revoked_at=p.revoked_at,
        ))

    async def party(self, name: str) -> Party | None:
        row = (await self._c.execute(_PARTY, {"name": name})).first()
        return _party_from_row(row) if row else None

    async def party_by_token(self, token_hash: str) -> Party | None:
        row = (await self._c.execute(_PARTY_BY_TOKEN, {"token_hash": token_hash})).first()
        return _party_from_row(row) if row else None

    async def parties(self) -> list[Party]:
        return [_party_from_row(r) for r in await self._c.execute(_PARTIES)]

    async def revoke_party(self, name: str, at: float) -> bool:
        result = await self._c.execute(
            update(party).where(party.c.name == name, party.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount == 1)

    # volumes and their cells ---------------------------------------------------------------
    async def _put_volumes(
        self, kind: str, subject_id: str, volumes: Sequence[Volume],
        cells: Sequence[Sequence[int]], *, replacing: bool,
    ) -> None:
        """Store the volumes, each filed under its ``cells`` (none given: not indexed)."""
        if cells and len(cells) != len(volumes):
            raise ValueError(f"{len(cells)} cell lists for {len(volumes)} volumes")
        if replacing:
            old = select(volume.c.id).where(volume.c.subject_kind == kind,
                                            volume.c.subject_id == subject_id)
            await self._c.execute(delete(volume_cell).where(volume_cell.c.volume_id.in_(old)))
            await self._c.execute(delete(volume).where(volume.c.subject_kind == kind,
                                                       volume.c.subject_id == subject_id))
        for ordinal, v in enumerate(volumes):
            result = await self._c.execute(insert(volume).values(
                subject_kind=kind, subject_id=subject_id, ordinal=ordinal,
                footprint=json.dumps(footprint_to_geojson(v.footprint)),
                altitude_lower_m=v.altitude_lower_m, altitude_upper_m=v.altitude_upper_m,
                time_start=v.time_start, time_end=v.time_end,
            ))
            if cells:
                assert isinstance(result, CursorResult)  # a plain statement, not a hot one
                inserted = result.inserted_primary_key
                assert inserted is not None  # an INSERT of one row
                volume_id = inserted[0]
                await self._c.execute(
                    insert(volume_cell),
                    [{"cell": int(c), "volume_id": volume_id} for c in cells[ordinal]],
                )

    async def _volumes_of(self, kind: str, ids: Sequence[str]) -> dict[str, list[Volume]]:
        found: dict[str, list[Volume]] = defaultdict(list)
        if not ids:
            return found
        query = (select(volume)
                 .where(volume.c.subject_kind == kind, volume.c.subject_id.in_(list(ids)))
                 .order_by(volume.c.subject_id, volume.c.ordinal))
        for row in await self._c.execute(query):
            found[row.subject_id].append(_volume_from_row(row))
        return found

    async def volumes_near(
        self,
        cells: npt.NDArray[np.int64],
        *,
        time_start: float,
        time_end: float,
        altitude_lower_m: float,
        altitude_upper_m: float,
    ) -> list[IndexedVolume]:
        if len(cells) == 0:
            return []
        query = select(volume).where(*_near(cells, time_start, time_end,
                                            altitude_lower_m, altitude_upper_m))
        rows = await self._c.execute(query)
        return [IndexedVolume(r.subject_kind, r.subject_id, r.ordinal, _volume_from_row(r))
                for r in rows]

    async def versions_near(
        self,
        cells: npt.NDArray[np.int64],
        *,
        time_start: float,
        time_end: float,
        altitude_lower_m: float,
        altitude_upper_m: float,
    ) -> set[tuple[str, str, str]]:
        if len(cells) == 0:
            return set()
        near = _near(cells, time_start, time_end, altitude_lower_m, altitude_upper_m)
        found: set[tuple[str, str, str]] = set()
        for kind, table in ((_OPERATION, operation), (_CONSTRAINT, airspace_constraint)):
            query = (select(table.c.id, table.c.ovn).distinct()
                     .join(volume, volume.c.subject_id == table.c.id)
                     .where(volume.c.subject_kind == kind, *near))
            found.update((kind, r.id, r.ovn) for r in await self._c.execute(query))
        return found

    async def all_indexed_volumes(self) -> list[IndexedVolume]:
        query = select(volume).where(volume.c.id.in_(select(volume_cell.c.volume_id)))
        return [IndexedVolume(r.subject_kind, r.subject_id, r.ordinal, _volume_from_row(r))
                for r in await self._c.execute(query)]

    # operations ----------------------------------------------------------------------------
    @staticmethod
    def _operation_values(o: Operation) -> dict[str, Any]:
        return dict(
            owner=o.owner, priority=o.priority, state=o.state.value, ovn=o.ovn,
            version=o.version, short_notice=o.short_notice,
            callsigns=json.dumps(list(o.callsigns)), notes=o.notes,
            created_at=o.created_at, updated_at=o.updated_at,
        )

    async def insert_operation(self, o: Operation, cells: Sequence[Sequence[int]]) -> None:
        await self._c.execute(insert(operation).values(id=o.id, **self._operation_values(o)))
        await self._put_volumes(_OPERATION, o.id, o.volumes, cells, replacing=False)

    async def update_operation(self, o: Operation, cells: Sequence[Sequence[int]]) -> None:
        await self._c.execute(
            update(operation).where(operation.c.id == o.id).values(**self._operation_values(o))
        )
        await self._put_volumes(_OPERATION, o.id, o.volumes, cells, replacing=True)

    async def operation(self, operation_id: str) -> Operation | None:
        found = await self.operations(ids=[operation_id], include_ended=True)
        return found[0] if found else None

    async def operations(
        self, *, ids: Sequence[str] | None = None, include_ended: bool = False,
        with_volumes: bool = True, after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Operation]:
        if ids is not None and not ids:
            return []
        query = after_key(select(operation), [(operation.c.created_at, False),
                                              (operation.c.id, False)], after, limit)
        if ids is not None:
            query = query.where(operation.c.id.in_(list(ids)))
        if not include_ended:
            query = query.where(operation.c.state != OperationState.ENDED.value)
        rows = list(await self._c.execute(query))
        volumes = (await self._volumes_of(_OPERATION, [r.id for r in rows]) if with_volumes
                   else defaultdict(list))
        return [
            Operation(
                id=r.id, owner=r.owner, volumes=tuple(volumes[r.id]), priority=r.priority,
                state=OperationState(r.state), ovn=r.ovn, version=r.version,
                short_notice=bool(r.short_notice), callsigns=tuple(json.loads(r.callsigns)),
                notes=r.notes, created_at=r.created_at, updated_at=r.updated_at,
            )
            for r in rows
        ]

    # constraints ---------------------------------------------------------------------------
    @staticmethod
    def _constraint_values(k: Constraint) -> dict[str, Any]:
        return dict(
            authority=k.authority, kind=k.kind.value, name=k.name,
            applies_to=None if k.applies_to is None else json.dumps(list(k.applies_to)),
            exempt=json.dumps(list(k.exempt)), state=k.state.value, ovn=k.ovn,
            version=k.version, created_at=k.created_at, updated_at=k.updated_at,
        )

    async def insert_constraint(self, k: Constraint, cells: Sequence[Sequence[int]]) -> None:
        await self._c.execute(
            insert(airspace_constraint).values(id=k.id, **self._constraint_values(k)))
        await self._put_volumes(_CONSTRAINT, k.id, k.volumes, cells, replacing=False)

    async def update_constraint(self, k: Constraint, cells: Sequence[Sequence[int]]) -> None:
        await self._c.execute(update(airspace_constraint)
                              .where(airspace_constraint.c.id == k.id)
                              .values(**self._constraint_values(k)))
        await self._put_volumes(_CONSTRAINT, k.id, k.volumes, cells, replacing=True)

    async def constraint(self, constraint_id: str) -> Constraint | None:
        found = await self.constraints(ids=[constraint_id])
        return found[0] if found else None

    async def constraints(
        self, *, ids: Sequence[str] | None = None, include_withdrawn: bool = True,
        after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Constraint]:
        t = airspace_constraint
        if ids is not None and not ids:
            return []
        query = after_key(select(t), [(t.c.created_at, False), (t.c.id, False)], after, limit)
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        if not include_withdrawn:
            query = query.where(t.c.state == ConstraintState.ACTIVE.value)
        rows = list(await self._c.execute(query))
        volumes = await self._volumes_of(_CONSTRAINT, [r.id for r in rows])
        return [
            Constraint(
                id=r.id, authority=r.authority, kind=ConstraintKind(r.kind), name=r.name,
                volumes=tuple(volumes[r.id]),
                applies_to=None if r.applies_to is None else tuple(json.loads(r.applies_to)),
                exempt=tuple(json.loads(r.exempt)), state=ConstraintState(r.state), ovn=r.ovn,
                version=r.version, created_at=r.created_at, updated_at=r.updated_at,
            )
            for r in rows
        ]

    # events --------------------------------------------------------------------------------
    async def append_event(
        self, party_name: str, kind: str, time: float, data: dict[str, Any]
    ) -> Event:
        seq = await self._c.scalar(_APPEND_EVENT, {
            "e_party": party_name, "e_kind": kind, "e_time": time,
            "e_data": fastjson.dumps_text(data)})
        appended = Event(party_name, int(seq), kind, time, data)
        self.appended.append(appended)
        return appended

    async def events(self, party_name: str, *, after: int, limit: int) -> list[Event]:
        rows = await self._c.execute(_EVENTS_AFTER,
                                     {"party": party_name, "after": after, "limit": limit})
        return [Event(r.party, r.seq, r.kind, r.time, json.loads(r.data)) for r in rows]
