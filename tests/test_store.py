"""The store interface, against both backends: a SQLite file and a fresh PostgreSQL database.

Databases come from ``database_factory`` in tests/conftest.py (a SQLite file in a temporary
directory, or ``deconf_<hex>`` created on the server named by DECONFLICTION_TEST_DATABASE_URL
and dropped WITH (FORCE) afterwards; PostgreSQL variants are skipped, with the reason, when the
server is not configured or reachable).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import replace

import pytest
import sqlalchemy as sa

from deconfliction.engine.cells import search_cells
from deconfliction.engine.footprint import geographic_bounds
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service import evidence
from deconfliction.service.volume_index import constraint_cells, operation_cells
from deconfliction.store import open_store

pytestmark = pytest.mark.anyio
H = 5 * 1852.0
V = 1000 * 0.3048
T0 = 1_800_000_000.0  # a UTC epoch time in 2027


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


SQUARE_WITH_HOLE = PolygonFootprint((
    ((36.0, 37.0), (36.2, 37.0), (36.2, 37.2), (36.0, 37.2), (36.0, 37.0)),
    ((36.05, 37.05), (36.1, 37.05), (36.1, 37.1), (36.05, 37.05)),
))


def operation(op_id: str, owner: str, volumes, **changes) -> Operation:
    values = dict(
        id=op_id, owner=owner, volumes=tuple(volumes), priority=3,
        state=OperationState.ACCEPTED, ovn=f"ovn-{op_id}-1", version=1, short_notice=False,
        callsigns=("RCH123", "ÇAĞRI-7"), notes="weather «marginal»; ✈",
        created_at=T0 + 0.125, updated_at=T0 + 0.125,
    )
    values.update(changes)
    return Operation(**values)


async def add_parties(store, *names: str) -> None:
    async def work(repo):
        for name in names:
            await repo.add_party(Party(name, Role.OPERATOR, T0), token_hash(name))
    await store.transact(work)


# ---------------------------------------------------------------------------------------------
# open_store and migrations
# ---------------------------------------------------------------------------------------------


def _sync_url(db) -> str:
    if db.backend == "sqlite":
        return f"sqlite:///{db.path}"
    return "postgresql+psycopg://" + db.url.removeprefix("postgresql://")


async def test_open_store_migrates_and_is_idempotent(database) -> None:
    first = database.open_store()
    try:
        assert first.backend == ("sqlite" if database.backend == "sqlite" else "postgresql")
        await add_parties(first, "blue")
    finally:
        await first.close()

    engine = sa.create_engine(_sync_url(database))
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as c:
            versions = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()
    assert {"party", "operation", "airspace_constraint", "volume", "volume_cell",
            "event", "alembic_version"} <= tables
    assert len(versions) == 1

    second = database.open_store()  # migrating again is a no-op and keeps the data
    third = database.open_store()
    try:
        assert (await second.interact(lambda r: r.party("blue"))).name == "blue"
        assert [p.name for p in await third.interact(lambda r: r.parties())] == ["blue"]
    finally:
        await second.close()
        await third.close()
    engine = sa.create_engine(_sync_url(database))
    try:
        with engine.connect() as c:
            again = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()
    assert again == versions


async def test_sqlite_open_store_refuses_a_missing_directory(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(db_path=tmp_path / "no-such-dir" / "x.db")


# ---------------------------------------------------------------------------------------------
# parties
# ---------------------------------------------------------------------------------------------


async def test_parties_add_get_by_token_and_revoke(store) -> None:
    async def add(repo):
        await repo.add_party(Party("blue", Role.OPERATOR, T0 + 0.5), token_hash("t-blue"))
        await repo.add_party(Party("mission", Role.AUTHORITY, T0 + 1.5), token_hash("t-mission"))
        await repo.add_party(Party("watch", Role.OBSERVER, T0 + 2.5), token_hash("t-watch"))
    await store.transact(add)

    blue = await store.interact(lambda r: r.party("blue"))
    assert blue == Party("blue", Role.OPERATOR, T0 + 0.5, None)
    assert blue.active and isinstance(blue.role, Role)
    assert await store.interact(lambda r: r.party("nobody")) is None
    assert await store.interact(lambda r: r.party_by_token(token_hash("t-mission"))) == Party(
        "mission", Role.AUTHORITY, T0 + 1.5, None)
    assert await store.interact(lambda r: r.party_by_token(token_hash("wrong"))) is None
    assert [p.name for p in await store.interact(lambda r: r.parties())] == [
        "blue", "mission", "watch"]

    assert await store.transact(lambda r: r.revoke_party("blue", T0 + 99.25)) is True
    assert await store.transact(lambda r: r.revoke_party("blue", T0 + 100.0)) is False
    assert await store.transact(lambda r: r.revoke_party("nobody", T0)) is False
    revoked = await store.interact(lambda r: r.party_by_token(token_hash("t-blue")))
    assert revoked.revoked_at == T0 + 99.25 and not revoked.active

    with pytest.raises(sa.exc.IntegrityError):  # the token hash is unique
        await store.transact(lambda r: r.add_party(Party("red", Role.OPERATOR, T0),
                                                   token_hash("t-blue")))
    assert await store.interact(lambda r: r.party("red")) is None


# ---------------------------------------------------------------------------------------------
# operations
# ---------------------------------------------------------------------------------------------


async def test_operation_round_trip(store) -> None:
    await add_parties(store, "blue")
    volumes = (
        Volume(SQUARE_WITH_HOLE, 0.1 + 0.2, 30_000 * 0.3048, T0 + 1 / 3, T0 + 3600.0 + 1e-6),
        Volume(CircleFootprint((-179.999999999, -89.123456789012), 1234.5678901234),
               -12.5, 1e5 / 3, T0 + 7200.0, T0 + 10_000.75),
    )
    original = operation("op-1", "blue", volumes, short_notice=True, priority=-2)
    await store.transact(lambda r: r.insert_operation(original, operation_cells(original)))
    loaded = await store.interact(lambda r: r.operation("op-1"))
    assert loaded == original
    assert isinstance(loaded.volumes, tuple) and isinstance(loaded.callsigns, tuple)
    assert isinstance(loaded.volumes[0].footprint.rings, tuple)
    assert isinstance(loaded.volumes[0].footprint.rings[1][0], tuple)
    assert loaded.short_notice is True and loaded.state is OperationState.ACCEPTED

    updated = operation(
        "op-1", "blue", volumes[1:], state=OperationState.ACTIVATED, ovn="ovn-op-1-2",
        version=2, short_notice=False, callsigns=(), notes="", updated_at=T0 + 60.0625,
        priority=-2,
    )
    await store.transact(lambda r: r.update_operation(updated, operation_cells(updated)))
    assert await store.interact(lambda r: r.operation("op-1")) == updated
    assert (await store.interact(lambda r: r.operation("op-1"))).short_notice is False
    assert await store.interact(lambda r: r.operation("missing")) is None


async def test_operations_listing_filters_ended(store) -> None:
    await add_parties(store, "blue", "red")
    fp = CircleFootprint((36.2, 37.1), 1000.0)
    v = Volume(fp, 0.0, 100.0, T0, T0 + 600)
    a = operation("op-a", "blue", [v], created_at=T0 + 1)
    b = operation("op-b", "red", [v], created_at=T0 + 2)
    c = operation("op-c", "red", [v], created_at=T0 + 3, state=OperationState.ENDED)

    async def insert(repo):
        for o in (a, b, c):
            await repo.insert_operation(o, operation_cells(o))
    await store.transact(insert)
    assert [o.id for o in await store.interact(lambda r: r.operations())] == ["op-a", "op-b"]
    assert [o.id for o in await store.interact(lambda r: r.operations(include_ended=True))] == [
        "op-a", "op-b", "op-c"]
    assert [o.id for o in await store.interact(
        lambda r: r.operations(ids=["op-c", "op-b", "zzz"], include_ended=True))] == [
        "op-b", "op-c"]
    assert await store.interact(lambda r: r.operations(ids=[])) == []
    assert (await store.interact(lambda r: r.operation("op-c"))).state is OperationState.ENDED


# ---------------------------------------------------------------------------------------------
# the volume index
# ---------------------------------------------------------------------------------------------


def _near(volume: Volume, *, margin: float = H, widen: float = 0.0, lower=None, upper=None):
    t0, t1 = volume.time_start - widen, volume.time_end + widen
    cells = search_cells(geographic_bounds(volume.footprint), margin, t0, t1)
    lo = volume.altitude_lower_m - V if lower is None else lower
    hi = volume.altitude_upper_m + V if upper is None else upper

    def work(repo):
        return repo.volumes_near(cells, time_start=t0, time_end=t1,
                                 altitude_lower_m=lo, altitude_upper_m=hi)
    return work


async def test_volumes_near_finds_by_cells_and_filters(store) -> None:
    await add_parties(store, "blue", "red")
    mine = Volume(CircleFootprint((36.20, 37.10), 2000.0), 1000.0, 2000.0, T0, T0 + 3600.0)
    square_fp = PolygonFootprint((
        ((36.28, 37.08), (36.32, 37.08), (36.32, 37.12), (36.28, 37.12), (36.28, 37.08)),))
    stored = Volume(square_fp, 1500.0, 2500.0, T0 + 1800.0, T0 + 5400.0)
    far = Volume(CircleFootprint((40.0, 37.1), 2000.0), 1000.0, 2000.0, T0, T0 + 3600.0)
    op_r = operation("op-r", "red", [far, stored])
    await store.transact(lambda r: r.insert_operation(op_r, operation_cells(op_r)))

    found = await store.interact(_near(mine))
    assert [(f.subject_kind, f.subject_id, f.ordinal) for f in found] == [
        ("operation", "op-r", 1)]
    assert found[0].volume == stored
    assert found[0].volume.footprint == square_fp

    # outside the window: before, and touching exactly (windows are half-open)
    before = Volume(mine.footprint, 1000.0, 2000.0, T0 - 7200.0, T0 - 3600.0)
    assert await store.interact(_near(before)) == []
    touching = Volume(mine.footprint, 1000.0, 2000.0, T0 + 5400.0, T0 + 7200.0)
    assert await store.interact(_near(touching)) == []
    just_in = Volume(mine.footprint, 1000.0, 2000.0, T0 + 5399.0, T0 + 7200.0)
    assert len(await store.interact(_near(just_in))) == 1
    # outside the band (the band searched is open too)
    assert await store.interact(_near(mine, lower=2500.0, upper=9000.0)) == []
    assert await store.interact(_near(mine, lower=0.0, upper=1500.0)) == []
    assert len(await store.interact(_near(mine, lower=2499.0, upper=9000.0))) == 1
    # cells elsewhere on the globe find nothing
    elsewhere = Volume(CircleFootprint((-120.0, -40.0), 2000.0), 1000.0, 2000.0, T0, T0 + 3600)
    assert await store.interact(_near(elsewhere)) == []
    assert {(i.subject_id, i.ordinal) for i in await store.interact(
        lambda r: r.all_indexed_volumes())} == {("op-r", 0), ("op-r", 1)}

    # ending the operation takes its volumes out of the index (the record stays)
    ended = operation("op-r", "red", [far, stored], state=OperationState.ENDED, version=2,
                      ovn="ovn-op-r-2")
    await store.transact(lambda r: r.update_operation(ended, operation_cells(ended)))
    assert await store.interact(_near(mine)) == []
    assert await store.interact(lambda r: r.all_indexed_volumes()) == []
    assert (await store.interact(lambda r: r.operation("op-r"))).volumes == (far, stored)


async def test_volumes_near_long_volumes_and_moved_volumes(store) -> None:
    await add_parties(store, "blue")
    fp = CircleFootprint((179.99, 10.0), 500.0)  # across the antimeridian from the probe
    long_v = Volume(fp, 0.0, 500.0, T0, T0 + 20 * 86400.0)
    op_l = operation("op-l", "blue", [long_v])
    await store.transact(lambda r: r.insert_operation(op_l, operation_cells(op_l)))
    probe = Volume(CircleFootprint((-179.99, 10.01), 500.0), 0.0, 500.0,
                   T0 + 15 * 86400.0, T0 + 15 * 86400.0 + 60.0)
    assert [f.subject_id for f in await store.interact(_near(probe))] == ["op-l"]

    # an update that moves the volume re-indexes it: the old place no longer finds it
    moved = Volume(CircleFootprint((10.0, 50.0), 500.0), 0.0, 500.0, T0, T0 + 600.0)
    op_moved = operation("op-l", "blue", [moved], version=2, ovn="ovn-op-l-2")
    await store.transact(lambda r: r.update_operation(op_moved, operation_cells(op_moved)))
    assert await store.interact(_near(probe)) == []
    assert [f.volume for f in await store.interact(_near(moved))] == [moved]


async def test_constraints_indexed_only_while_active(store) -> None:
    async def add(repo):
        await repo.add_party(Party("mission", Role.AUTHORITY, T0), token_hash("mission"))
    await store.transact(add)
    v = Volume(CircleFootprint((36.2, 37.1), 3000.0), 0.0, 10_000.0, T0, T0 + 86400.0)
    k = Constraint(id="k-1", authority="mission", kind=ConstraintKind.NO_FLY, name="Aleppo",
                   volumes=(v,), applies_to=("blue", "red"), exempt=("watch",),
                   state=ConstraintState.ACTIVE, ovn="k-ovn-1", version=1,
                   created_at=T0, updated_at=T0)
    await store.transact(lambda r: r.insert_constraint(k, constraint_cells(k)))
    assert await store.interact(lambda r: r.constraint("k-1")) == k
    found = await store.interact(_near(v))
    assert [(f.subject_kind, f.subject_id) for f in found] == [("constraint", "k-1")]
    withdrawn = replace(k, state=ConstraintState.WITHDRAWN, applies_to=None, version=2,
                        ovn="k-ovn-2")
    await store.transact(lambda r: r.update_constraint(withdrawn, constraint_cells(withdrawn)))
    assert await store.interact(_near(v)) == []
    assert await store.interact(lambda r: r.constraint("k-1")) == withdrawn
    assert await store.interact(lambda r: r.constraints(include_withdrawn=False)) == []


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------


async def test_events_are_gap_free_per_party(store) -> None:
    await add_parties(store, "blue", "red")

    async def append(repo):
        out = []
        for k in range(3):
            out.append(await repo.append_event("blue", "alert", T0 + k, {"k": k, "x": [1.5]}))
        for k in range(2):
            out.append(await repo.append_event("red", "message", T0 + k, {"k": k}))
        return out
    made = await store.transact(append)
    assert [(e.party, e.seq) for e in made] == [
        ("blue", 1), ("blue", 2), ("blue", 3), ("red", 1), ("red", 2)]
    more = await store.transact(lambda r: r.append_event("blue", "alert", T0 + 9, {}))
    assert more.seq == 4

    blue = await store.interact(lambda r: r.events("blue", after=0, limit=100))
    assert [e.seq for e in blue] == [1, 2, 3, 4]
    assert blue[1].data == {"k": 1, "x": [1.5]} and blue[1].kind == "alert"
    assert blue[1].time == T0 + 1
    assert [e.seq for e in await store.interact(lambda r: r.events("blue", after=2, limit=1))] \
        == [3]
    assert await store.interact(lambda r: r.events("blue", after=4, limit=10)) == []
    assert [e.seq for e in await store.interact(lambda r: r.events("red", after=0, limit=10))] \
        == [1, 2]
    assert await store.interact(lambda r: r.events("nobody", after=0, limit=10)) == []


async def test_concurrent_appends_stay_gap_free(store) -> None:
    await add_parties(store, "blue")
    made = await asyncio.gather(*[
        store.transact(lambda r, k=k: r.append_event("blue", "alert", T0 + k, {"k": k}))
        for k in range(8)
    ])
    assert sorted(e.seq for e in made) == list(range(1, 9))
    stored = await store.interact(lambda r: r.events("blue", after=0, limit=100))
    assert [e.seq for e in stored] == list(range(1, 9))
    assert sorted(e.data["k"] for e in stored) == list(range(8))


# ---------------------------------------------------------------------------------------------
# transactions
# ---------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


async def test_failing_transact_rolls_everything_back(store) -> None:
    await add_parties(store, "blue")
    v = Volume(CircleFootprint((36.2, 37.1), 1000.0), 0.0, 100.0, T0, T0 + 600.0)
    before = operation("op-keep", "blue", [v])
    await store.transact(lambda r: r.insert_operation(before, operation_cells(before)))

    async def doomed(repo):
        await repo.add_party(Party("red", Role.OPERATOR, T0), token_hash("red"))
        new = operation("op-new", "red", [v])
        await repo.insert_operation(new, operation_cells(new))
        kept = operation("op-keep", "blue", [], state=OperationState.ENDED, version=2,
                         ovn="changed")
        await repo.update_operation(kept, operation_cells(kept))
        await repo.append_event("blue", "alert", T0, {"n": 1})
        await repo.revoke_party("blue", T0 + 1)
        raise Boom("after writing")

    with pytest.raises(Boom):
        await store.transact(doomed)
    assert await store.interact(lambda r: r.party("red")) is None
    assert (await store.interact(lambda r: r.party("blue"))).active
    assert await store.interact(lambda r: r.operation("op-new")) is None
    assert await store.interact(lambda r: r.operation("op-keep")) == before
    assert await store.interact(lambda r: r.events("blue", after=0, limit=10)) == []
    assert [i.subject_id for i in await store.interact(lambda r: r.all_indexed_volumes())] == [
        "op-keep"]
    # the store is usable afterwards
    assert (await store.transact(lambda r: r.append_event("blue", "alert", T0, {}))).seq == 1


@pytest.mark.postgres
async def test_postgres_serialization_retry_on_racing_seq(database_factory) -> None:
    db = database_factory.create("postgres")
    store = db.open_store()
    try:
        await add_parties(store, "blue")
        attempts = {0: 0, 1: 0}
        # units of work run on worker threads: the first attempts meet at a thread barrier
        both_read = threading.Barrier(2, timeout=10)

        def racer(i: int):
            async def work(repo):
                attempts[i] += 1
                # read the party's stream (the "read" of read-then-insert) ...
                await repo.events("blue", after=0, limit=100)
                if attempts[i] == 1:  # ... and let the other read too before either writes
                    both_read.wait()
                return await repo.append_event("blue", "alert", T0 + i, {"racer": i})
            return work

        results = await asyncio.gather(store.transact(racer(0)), store.transact(racer(1)))
        assert sorted(e.seq for e in results) == [1, 2]
        assert sum(attempts.values()) >= 3, f"no transaction was retried: {attempts}"
        stored = await store.interact(lambda r: r.events("blue", after=0, limit=10))
        assert [e.seq for e in stored] == [1, 2]
        assert sorted(e.data["racer"] for e in stored) == [0, 1]
    finally:
        await store.close()


async def test_concurrent_units_commit_together_and_fail_alone(store) -> None:
    """Many writes at once (SQLite commits them as one batch, one savepoint each): the one that
    fails leaves nothing behind and the others are all stored, numbered in order; each unit
    sees what the ones before it wrote; every caller is answered only after its commit, with
    the events it appended handed to the commit hooks."""
    await add_parties(store, "blue")
    committed: list = []
    store.on_commit(committed.extend)

    def append(i: int):
        async def work(repo):
            event = await repo.append_event("blue", "alert", T0 + i, {"i": i})
            if i == 7:
                raise ValueError("refused")
            return event
        return work

    results = await asyncio.gather(*(store.transact(append(i)) for i in range(20)),
                                   return_exceptions=True)
    assert isinstance(results[7], ValueError)
    stored = await store.interact(lambda r: r.events("blue", after=0, limit=100))
    assert [e.seq for e in stored] == list(range(1, 20))  # gap-free: the refused unit left no hole
    assert sorted(e.data["i"] for e in stored) == [i for i in range(20) if i != 7]
    assert {e.seq for e in results if not isinstance(e, Exception)} == set(range(1, 20))
    assert sorted(e.seq for e in committed) == list(range(1, 20))


async def test_unit_of_work_must_not_await_other_things(store) -> None:
    """A unit of work runs whole on the store's thread: awaiting anything but the repository
    is a programming error, reported as such, and the unit is rolled back."""
    await add_parties(store, "blue")

    async def work(repo):
        await repo.append_event("blue", "alert", T0, {})
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other than its repository"):
        await store.transact(work)
    assert await store.interact(lambda r: r.events("blue", after=0, limit=10)) == []


async def test_ledger_leaves_of_concurrent_units_are_gap_free(store) -> None:
    """Units committed together (SQLite numbers their ledger leaves in memory and inserts them
    in one statement): a unit that fails takes its leaves with it, the rest are numbered
    0..n-1 without a gap, and each unit's receipts name the indices that were stored."""

    def add(i: int):
        async def work(repo):
            party = Party(f"p{i:02d}", Role.OPERATOR, T0)
            await repo.add_party(party, token_hash(f"t{i}"))
            recorded = await repo.append_leaves([evidence.party_added(party)])
            if i == 5:
                raise ValueError("refused")
            return [leaf.index for leaf in recorded]
        return work

    results = await asyncio.gather(*(store.transact(add(i)) for i in range(12)),
                                   return_exceptions=True)
    assert isinstance(results[5], ValueError)
    indices = sorted(i for r in results if not isinstance(r, Exception) for i in r)
    assert indices == list(range(11))
    stored = await store.interact(lambda r: r.ledger_leaves(0, 100))
    assert [leaf.index for leaf in stored] == list(range(11))
    assert sum(b'"p04"' in leaf.entry for leaf in stored) == 1  # entries name the party
    assert not any(b'"p05"' in leaf.entry for leaf in stored)
    assert await store.interact(lambda r: r.ledger_size()) == 11
