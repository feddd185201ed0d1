"""The ledger's storage and signer against both backends (a SQLite file, a fresh PostgreSQL
database): a leaf per write in the write's own transaction, gap-free indices under concurrency,
signed heads whose roots, proofs and consistency verify, two signers at once, receipts of the
committed attempt only."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest
import rfc8785

from deconfliction.engine.ledger_entry import PUBLIC
from deconfliction.engine.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    append_nodes,
    root,
    verify_consistency,
    verify_inclusion,
)
from deconfliction.engine.tree_head import verify_tree_head
from deconfliction.model.alert import Alert, AlertKind, AlertState
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.link import LinkTest, PartyLink, PartyStatus
from deconfliction.model.message import Message, Recipient, ReplyKind, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import StateReport, Track
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import evidence, ledger
from deconfliction.service.line import Line

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


def line_on(store, now: float = T0) -> Line:
    return Line(store, clock=lambda: now)


async def add_parties(store, *names: str) -> None:
    async def work(repo):
        for name in names:
            await repo.add_party(Party(name, Role.OPERATOR, T0), hashlib.sha256(
                name.encode()).hexdigest())
    await store.transact(work)


def volume() -> Volume:
    return Volume(CircleFootprint((37.16, 36.2), 5000.0), 3000.0, 7000.0, T0 + 3600, T0 + 7200)


def an_operation(op_id: str, owner: str, **changes) -> Operation:
    values = dict(id=op_id, owner=owner, volumes=(volume(),), priority=5,
                  state=OperationState.ACCEPTED, ovn=f"{op_id}-1", version=1, short_notice=False,
                  callsigns=("BLUE 1",), notes="private", created_at=T0 + 1, updated_at=T0 + 1)
    values.update(changes)
    return Operation(**values)


async def leaves(store):
    return await store.interact(lambda r: r.ledger_leaves(0, 10**9))


# ---------------------------------------------------------------------------------------------
# a leaf per write, in its transaction
# ---------------------------------------------------------------------------------------------


async def test_every_write_appends_its_leaf(store) -> None:
    await add_parties(store, "blue", "red")
    op = an_operation("op-1", "blue")
    await store.transact(lambda r: r.insert_operation(op))
    await store.transact(lambda r: r.update_operation(
        an_operation("op-1", "blue", state=OperationState.ENDED, updated_at=T0 + 2)))
    closed = Constraint("k-1", "blue", ConstraintKind.NO_FLY, "Aleppo", (volume(),), None, (),
                        ConstraintState.ACTIVE, "k-1-1", 1, T0 + 3, T0 + 3)
    await store.transact(lambda r: r.insert_constraint(closed))
    report = StateReport("blue-1", T0 + 4, 36.2, 37.3, 7600.0, 230.0, 270.0, 0.0)
    await store.transact(lambda r: r.put_tracks([Track("blue", report, T0 + 4.5)]))
    alert = Alert("a-1", AlertKind.CONFLICT, ("conflict", "x", "y"), ("blue", "red"),
                  AlertState.RAISED, T0 + 5, T0 + 5, None, {"distance_m": float("inf")})
    await store.transact(lambda r: r.put_alert(alert))
    await store.transact(lambda r: r.put_alert(Alert(
        "a-1", AlertKind.CONFLICT, alert.key, alert.parties, AlertState.CLEARED, T0 + 5, T0 + 6,
        T0 + 6, {})))
    message = Message("m-1", "blue", "red", Urgency.URGENT, "turning", "north", (), T0 + 7)
    await store.transact(lambda r: r.insert_message(
        message, [Recipient("m-1", "red", escalate_at=T0 + 67)]))
    assert await store.transact(lambda r: r.mark_delivered("red", ["m-1"], T0 + 8)) == ["m-1"]
    await store.transact(lambda r: r.put_recipient(Recipient(
        "m-1", "red", T0 + 8, None, None, None, 1, T0 + 127)))  # escalated at its deadline
    await store.transact(lambda r: r.put_recipient(Recipient(
        "m-1", "red", T0 + 8, ReplyKind.WILL_COMPLY, "ok", T0 + 9, 1, None)))
    await store.transact(lambda r: r.put_party_link(PartyLink(
        "red", PartyStatus.TALKS_SUSPENDED, T0 + 10)))
    await store.transact(lambda r: r.put_party_link(PartyLink(   # contacts only: not recorded
        "red", PartyStatus.TALKS_SUSPENDED, T0 + 10, ("blue",))))
    await store.transact(lambda r: r.insert_link_test(LinkTest("t-1", "blue", T0 + 11, {})))
    await store.transact(lambda r: r.add_link_ack("t-1", "red", T0 + 12))
    await store.transact(lambda r: r.revoke_party("red", T0 + 13))

    found = await leaves(store)
    assert [leaf.index for leaf in found] == list(range(len(found)))
    assert [(leaf.kind, leaf.parties) for leaf in found] == [
        ("party.added", (PUBLIC,)), ("party.added", (PUBLIC,)),
        ("operation.declared", ("blue",)), ("operation.ended", ("blue",)),
        ("constraint.published", (PUBLIC,)), ("tracks.reported", ("blue",)),
        ("alert.raised", ("blue", "red")), ("alert.cleared", ("blue", "red")),
        ("message.sent", ("blue", "red")), ("message.delivered", ("blue", "red")),
        ("message.escalated", ("blue", "red")), ("message.replied", ("blue", "red")),
        ("party.status", (PUBLIC,)), ("line.test", (PUBLIC,)), ("line.test.ack", (PUBLIC,)),
        ("party.revoked", (PUBLIC,)),
    ]
    for leaf in found:  # RFC 9162 leaf hash of the RFC 8785 bytes, which say what was done
        assert leaf.leaf_hash == hashlib.sha256(b"\x00" + leaf.entry).digest()
        content = leaf.content()
        assert rfc8785.dumps(content) == leaf.entry
        assert content["kind"] == leaf.kind and tuple(content["parties"]) == leaf.parties
        assert len(content["salt"]) == 32
    by_kind = {leaf.kind: leaf.content() for leaf in found}
    declared = by_kind["operation.declared"]["body"]
    assert declared["notes"] == "private" and declared["callsigns"] == ["BLUE 1"]
    assert by_kind["operation.declared"]["time"] == "2027-01-15T08:00:01Z"
    assert by_kind["alert.raised"]["body"]["details"] == {"distance_m": "inf"}  # made explicit
    tracks = by_kind["tracks.reported"]["body"]
    assert tracks["count"] == 1 and tracks["aircraft"] == ["blue-1"]
    assert tracks["reports_sha256"] == hashlib.sha256(rfc8785.dumps([{
        "aircraft_id": "blue-1", "time": T0 + 4, "lat": 36.2, "lon": 37.3, "altitude_m": 7600.0,
        "ground_speed_mps": 230.0, "track_deg": 270.0, "vertical_rate_mps": 0.0}])).hexdigest()
    assert by_kind["message.escalated"]["body"]["due_at"] == "2027-01-15T08:01:07Z"
    assert by_kind["message.replied"]["body"]["reply"] == "will_comply"
    assert by_kind["party.status"]["body"]["status"] == "talks_suspended"


async def test_a_failed_unit_of_work_leaves_no_leaf(store) -> None:
    await add_parties(store, "blue")
    before = len(await leaves(store))

    async def work(repo):
        await repo.insert_operation(an_operation("op-x", "blue"))
        assert len(repo.recorded) == 1
        raise RuntimeError("refused after the write")

    with pytest.raises(RuntimeError):
        await store.transact(work)
    assert len(await leaves(store)) == before
    assert await store.interact(lambda r: r.operation("op-x")) is None
    await store.transact(lambda r: r.insert_operation(an_operation("op-y", "blue")))
    assert [leaf.index for leaf in await leaves(store)] == list(range(before + 1))


async def test_concurrent_writers_get_gap_free_indices(store) -> None:
    await add_parties(store, "blue")
    await asyncio.gather(*(store.transact(lambda r, i=i: r.insert_operation(
        an_operation(f"op-{i}", "blue"))) for i in range(20)))
    found = await leaves(store)
    assert [leaf.index for leaf in found] == list(range(21))
    assert {leaf.content()["body"]["id"] for leaf in found[1:]} == {f"op-{i}" for i in range(20)}


async def test_append_leaves_stores_the_drafts_as_given_with_the_next_indices(store) -> None:
    await add_parties(store, "blue")  # leaf 0
    drafts = [evidence.draft("line.test", [PUBLIC], {"n": i}, T0 + i) for i in range(3)]
    drafts.append(evidence.draft("message.sent", ["red", "blue", "red"], {"n": 3}, T0 + 3))

    async def work(repo, part):
        return await repo.append_leaves(part)

    first, second, empty = await asyncio.gather(  # one SQLite group commit, three units
        store.transact(lambda r: work(r, drafts[:1])),
        store.transact(lambda r: work(r, drafts[1:])), store.transact(lambda r: work(r, [])))
    assert empty == []
    appended = first + second
    assert [leaf.index for leaf in appended] == [1, 2, 3, 4]
    assert appended[3].parties == ("blue", "red")  # readers sorted, once each
    for draft, leaf in zip(drafts, appended, strict=True):
        assert (leaf.time, leaf.kind, leaf.parties, leaf.entry, leaf.leaf_hash) == (
            draft.time, draft.kind, draft.parties, draft.entry, draft.leaf_hash)
        assert leaf.leaf_hash == hashlib.sha256(b"\x00" + leaf.entry).digest()
        assert leaf.content()["body"]["n"] == leaf.index - 1
    assert (await leaves(store))[1:] == appended
    assert len({leaf.content()["salt"] for leaf in appended}) == 4  # a fresh salt each


@pytest.mark.postgres
async def test_postgres_race_on_the_leaf_index_is_retried_not_refused(database_factory) -> None:
    db = database_factory.create("postgres")
    store = ledger.RecordingStore(db.open_store())
    try:
        await add_parties(store, "blue")
        attempts = {0: 0, 1: 0}
        both_read = threading.Barrier(2, timeout=10)

        def racer(i: int):
            async def work(repo):
                attempts[i] += 1
                await repo.ledger_size()  # both read the ledger's end ...
                if attempts[i] == 1:
                    both_read.wait()  # ... before either appends
                await repo.insert_operation(an_operation(f"op-{i}", "blue"))
                return i
            return work

        async def write(i: int):
            with ledger.collecting() as recorded:
                await store.transact(racer(i))
            return recorded

        got = await asyncio.gather(write(0), write(1))
        assert sum(attempts.values()) >= 3, f"no transaction was retried: {attempts}"
        assert sorted(r[0].index for r in got) == [1, 2]  # the committed attempts' leaves
        found = await leaves(store)
        assert [leaf.index for leaf in found] == [0, 1, 2]
        for recorded in got:
            assert found[recorded[0].index] == recorded[0]
    finally:
        await store.close()


# ---------------------------------------------------------------------------------------------
# signing heads, proofs
# ---------------------------------------------------------------------------------------------


def memory_root(found) -> bytes:
    nodes = MemoryNodeStore()
    nodes.put_many(append_nodes(0, [leaf.leaf_hash for leaf in found], nodes))
    return root(len(found), nodes)


async def test_signed_heads_roots_proofs_and_consistency(store) -> None:
    line = line_on(store)
    key = await ledger.signing_key(line)
    empty = await ledger.sign_pending(line, key)  # a fresh ledger: the empty tree is signed
    assert empty.tree_size == 0 and empty.root_hash == EMPTY_ROOT
    assert await ledger.sign_pending(line, key) is None  # nothing new: no head
    await add_parties(store, "blue", "red")
    first = await ledger.sign_pending(line, key)
    for i in range(9):
        await store.transact(lambda r, i=i: r.insert_operation(an_operation(f"op-{i}", "blue")))
    second = await ledger.sign_pending(line, key, limit=6)  # a backlog over several heads
    third = await ledger.sign_pending(line, key)
    assert (first.tree_size, second.tree_size, third.tree_size) == (2, 8, 11)
    found = await leaves(store)
    public = key.public_key()
    for head in (empty, first, second, third):
        verify_tree_head(head, public)
        assert head.root_hash == memory_root(found[:head.tree_size])
    assert first.timestamp_ms <= second.timestamp_ms <= third.timestamp_ms
    assert await ledger.latest_head(line) == third

    for index in range(11):
        proof = await ledger.inclusion(line, index, None)
        verify_inclusion(found[index].leaf_hash, index, 11, proof.path, third.root_hash)
        assert proof.leaf_hash == found[index].leaf_hash and proof.head == third
        older = await ledger.inclusion(line, index, 8) if index < 8 else None
        if older is not None:
            verify_inclusion(found[index].leaf_hash, index, 8, older.path, second.root_hash)
    for a, b in ((first, second), (first, third), (second, third)):
        proof = await ledger.consistency(line, a.tree_size, b.tree_size)
        verify_consistency(a.tree_size, b.tree_size, a.root_hash, b.root_hash, proof.path)
        assert (proof.first_head, proof.second_head) == (a, b)

    receipt = await ledger.receipt(line, 3)  # the first head that includes leaf 3
    assert receipt.head == second
    verify_inclusion(found[3].leaf_hash, 3, 8, receipt.path, second.root_hash)


async def test_proofs_hold_where_low_nodes_are_hashed_up_from_leaves(store) -> None:
    """Only nodes of 16 leaves and more are stored; every proof over 83 leaves, signed in
    uneven batches (heads at sizes that are not multiples of 16), still verifies."""
    from sqlalchemy import select

    from deconfliction.store.schema import ledger_node
    from deconfliction.store.sql_ledger import STORED_FROM_LEVEL

    line = line_on(store)
    key = await ledger.signing_key(line)
    await add_parties(store, "blue")
    heads = [await ledger.sign_pending(line, key)]
    for batch in (4, 13, 1, 31, 33):
        for i in range(batch):
            await store.transact(lambda r, i=i, b=batch: r.insert_operation(
                an_operation(f"op-{b}-{i}", "blue")))
        heads.append(await ledger.sign_pending(line, key, limit=batch - 1 if batch > 1 else 1))
        heads.append(await ledger.sign_pending(line, key))
    heads = [h for h in heads if h is not None]
    found = await leaves(store)
    assert len(found) == heads[-1].tree_size == 83
    assert {h.tree_size % 16 for h in heads} - {0}  # heads that end inside a 16-leaf block
    for head in heads:
        assert head.root_hash == memory_root(found[:head.tree_size])
        for index in range(head.tree_size):
            proof = await ledger.inclusion(line, index, head.tree_size)
            verify_inclusion(found[index].leaf_hash, index, head.tree_size, proof.path,
                             head.root_hash)
        for older in heads:
            if 0 < older.tree_size <= head.tree_size:
                proof = await ledger.consistency(line, older.tree_size, head.tree_size)
                verify_consistency(older.tree_size, head.tree_size, older.root_hash,
                                   head.root_hash, proof.path)
    levels = await store.interact(lambda r: r._c.execute(select(ledger_node.c.level)))
    stored = sorted(row.level for row in levels)
    assert stored and min(stored) == STORED_FROM_LEVEL  # (4, 0..4), (5, 0..1), (6, 0)
    assert len(stored) == 5 + 2 + 1


async def test_a_receipt_is_pending_until_signed(store) -> None:
    line = line_on(store)
    await add_parties(store, "blue")
    pending = await ledger.receipt(line, 0)
    assert pending.head is None and pending.path is None
    await ledger.sign_pending(line, await ledger.signing_key(line))
    assert (await ledger.receipt(line, 0)).head.tree_size == 1


async def test_two_signers_at_once_agree(database) -> None:
    stores = [database.open_store(), database.open_store()]  # as two processes would
    try:
        await add_parties(stores[0], "blue")
        lines = [line_on(s) for s in stores]
        keys = await asyncio.gather(*(ledger.signing_key(line) for line in lines))
        assert {k.public_key().public_bytes_raw() for k in keys} == {
            keys[0].public_key().public_bytes_raw()}  # one key, however many processes
        for round_ in range(5):
            for i in range(3):
                await stores[round_ % 2].transact(lambda r, i=i, n=round_: r.insert_operation(
                    an_operation(f"op-{n}-{i}", "blue")))
            await asyncio.gather(*(ledger.sign_pending(line, key)
                                   for line, key in zip(lines, keys, strict=True)))
        found = await leaves(stores[0])
        assert len(found) == 16
        head = await ledger.latest_head(lines[1])
        assert head.tree_size == 16 and head.root_hash == memory_root(found)
        nodes = await stores[1].interact(lambda r: r.ledger_nodes(
            [(0, i) for i in range(16)] + [(4, 0)]))
        assert nodes[(4, 0)] == head.root_hash and len(nodes) == 17
    finally:
        for s in stores:
            await s.close()


async def test_bad_proof_arguments_are_refused(store) -> None:
    from deconfliction.service.errors import NotFound, ValidationFailed

    line = line_on(store)
    await add_parties(store, "blue", "red")
    with pytest.raises(NotFound):
        await ledger.latest_head(line)
    await ledger.sign_pending(line, await ledger.signing_key(line))
    for call in (lambda: ledger.inclusion(line, 2, None), lambda: ledger.inclusion(line, 0, 3),
                 lambda: ledger.inclusion(line, 0, 0), lambda: ledger.consistency(line, 0, 2),
                 lambda: ledger.consistency(line, 2, 1), lambda: ledger.consistency(line, 1, 3),
                 lambda: ledger.entries(line, Party("x", Role.OPERATOR, T0), 5, 5),
                 lambda: ledger.entries(line, Party("x", Role.OPERATOR, T0), 0, 5000)):
        with pytest.raises(ValidationFailed):
            await call()
    with pytest.raises(NotFound):
        await ledger.receipt(line, 2)


async def test_entries_by_need_to_know(store) -> None:
    line = line_on(store)
    await add_parties(store, "blue", "red")
    await store.transact(lambda r: r.insert_operation(an_operation("op-1", "blue")))
    for reader, full in ((Party("blue", Role.OPERATOR, T0), [True, True, True]),
                         (Party("red", Role.OPERATOR, T0), [True, True, False]),
                         (Party("watch", Role.OBSERVER, T0), [True, True, True])):
        page = await ledger.entries(line, reader, 0, None)
        assert [f for _, f in page.leaves] == full and page.size == 3


async def test_recording_store_hands_receipts_of_committed_units_only(store) -> None:
    recording = ledger.RecordingStore(store)
    await add_parties(recording, "blue")
    with ledger.collecting() as recorded:
        await recording.transact(lambda r: r.insert_operation(an_operation("op-1", "blue")))
        with pytest.raises(RuntimeError):
            async def refused(repo):
                await repo.insert_operation(an_operation("op-2", "blue"))
                raise RuntimeError("no")
            await recording.transact(refused)
    assert [leaf.index for leaf in recorded] == [1]
    assert recording.backend == store.backend
