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
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.ledger import Leaf
from deconfliction.model.link import LinkTest, PartyLink, PartyStatus
from deconfliction.model.message import Message, Recipient, ReplyKind, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import StateReport, Track
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import (
    constraints,
    evidence,
    hotline,
    ledger,
    link,
    operations,
    parties,
    tracks,
)
from deconfliction.service.line import Line
from deconfliction.service.volume_index import operation_cells

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


def line_on(store, now: float = T0) -> Line:
    return Line(store, clock=lambda: now)


async def add_parties(store, *names: str) -> None:
    async def work(repo):
        for name in names:
            party = Party(name, Role.OPERATOR, T0)
            await repo.add_party(party, hashlib.sha256(name.encode()).hexdigest())
            await repo.append_leaves([evidence.party_added(party)])
    await store.transact(work)


async def declare(repo, op: Operation) -> Leaf:
    """``op`` stored and recorded in this unit of work, as declaring it does."""
    await repo.insert_operation(op, operation_cells(op))
    (leaf,) = await repo.append_leaves([evidence.operation_changed(op, first=True)])
    return leaf


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


async def test_every_use_case_records_its_change_and_returns_the_receipt(store) -> None:
    """Each write appends the leaf recording it in its own unit of work (service.evidence) and
    returns that leaf; the entries say what was done, readable by whom they always were."""
    clock = [T0]
    line = Line(store, clock=lambda: clock[0])
    blue, _ = await parties.add_party(line, "blue", Role.OPERATOR, T0)
    red, _ = await parties.add_party(line, "red", Role.OPERATOR, T0)
    un, _ = await parties.add_party(line, "un", Role.AUTHORITY, T0)
    receipts = []
    declared = await operations.declare_operation(line, blue, operations.DeclareOperation(
        (volume(),), priority=5, callsigns=("BLUE 1",), notes="private"), T0 + 1)
    receipts.append(declared.receipt)
    ended = await operations.end_operation(line, blue, declared.operation.id,
                                           declared.operation.ovn, T0 + 2)
    receipts.append(ended.receipt)
    published = await constraints.publish_constraint(line, un, constraints.PublishConstraint(
        ConstraintKind.NO_FLY, (volume(),), "Aleppo"), T0 + 3)
    receipts.append(published.receipt)
    report = StateReport("blue-1", T0 + 4, 36.2, 37.3, 7600.0, 230.0, 270.0, 0.0)
    receipts.append((await tracks.report_tracks(line, blue, [report], T0 + 4.5)).receipt)
    assert (await tracks.report_tracks(line, blue, [report], T0 + 5)).receipt is None  # stale
    sent = await hotline.send_message(line, blue, to="red", urgency=Urgency.URGENT,
                                      subject="turning", body="north", refs=[], now=T0 + 7)
    receipts.append(sent.receipt)
    message = sent.value[0]
    await hotline.get_message(line, red, message.id, T0 + 8)  # delivered: a receipt
    await hotline.get_message(line, red, message.id, T0 + 9)  # once
    assert await hotline.escalate_due(line, T0 + 66.9) == 0
    assert await hotline.escalate_due(line, T0 + 68) == 1  # recorded at its deadline, T0 + 67
    replied = await hotline.reply(line, red, message.id, ReplyKind.WILL_COMPLY, "ok", T0 + 69)
    receipts.append(replied.receipt)
    suspended = await link.set_status(line, red, PartyStatus.TALKS_SUSPENDED, T0 + 70)
    receipts.append(suspended.receipt)
    again = await link.set_status(line, red, PartyStatus.TALKS_SUSPENDED, T0 + 70)
    assert again.receipt is None  # nothing changed
    await hotline.set_escalation_contacts(line, red, ["blue"], T0 + 70)  # not recorded
    tested = await link.send_link_test(line, blue, T0 + 71)
    receipts.append(tested.receipt)
    acked = await link.ack_link_test(line, red, tested.value.id, T0 + 72)
    receipts.append(acked.receipt)
    assert (await link.ack_link_test(line, red, tested.value.id, T0 + 73)).receipt is None
    await parties.revoke_party(line, "red", T0 + 74)

    found = await leaves(store)
    assert [leaf.index for leaf in found] == list(range(len(found)))
    assert [(leaf.kind, leaf.parties) for leaf in found] == [
        ("party.added", (PUBLIC,)), ("party.added", (PUBLIC,)), ("party.added", (PUBLIC,)),
        ("operation.declared", ("blue",)), ("operation.ended", ("blue",)),
        ("constraint.published", (PUBLIC,)), ("tracks.reported", ("blue",)),
        ("message.sent", ("blue", "red")), ("message.delivered", ("blue", "red")),
        ("message.escalated", ("blue", "red")), ("message.replied", ("blue", "red")),
        ("party.status", (PUBLIC,)), ("line.test", (PUBLIC,)), ("line.test.ack", (PUBLIC,)),
        ("party.revoked", (PUBLIC,)),
    ]
    by_index = {leaf.index: leaf for leaf in found}
    for receipt in receipts:  # each use case's receipt is the leaf that was stored
        assert by_index[receipt.index] == receipt
    assert [r.kind for r in receipts] == [
        "operation.declared", "operation.ended", "constraint.published", "tracks.reported",
        "message.sent", "message.replied", "party.status", "line.test", "line.test.ack"]
    for leaf in found:  # RFC 9162 leaf hash of the RFC 8785 bytes, which say what was done
        assert leaf.leaf_hash == hashlib.sha256(b"\x00" + leaf.entry).digest()
        content = leaf.content()
        assert rfc8785.dumps(content) == leaf.entry
        assert content["kind"] == leaf.kind and tuple(content["parties"]) == leaf.parties
        assert len(content["salt"]) == 32
    by_kind = {leaf.kind: leaf.content() for leaf in found}
    body = by_kind["operation.declared"]["body"]
    assert body["notes"] == "private" and body["callsigns"] == ["BLUE 1"]
    assert by_kind["operation.declared"]["time"] == "2027-01-15T08:00:01Z"
    assert by_kind["operation.ended"]["body"]["state"] == "ended"
    body = by_kind["tracks.reported"]["body"]
    assert body["count"] == 1 and body["aircraft"] == ["blue-1"]
    assert body["reports_sha256"] == hashlib.sha256(rfc8785.dumps([{
        "aircraft_id": "blue-1", "time": T0 + 4, "lat": 36.2, "lon": 37.3, "altitude_m": 7600.0,
        "ground_speed_mps": 230.0, "track_deg": 270.0, "vertical_rate_mps": 0.0}])).hexdigest()
    assert by_kind["message.delivered"]["body"]["delivered_at"] == "2027-01-15T08:00:08Z"
    assert by_kind["message.escalated"]["body"]["due_at"] == "2027-01-15T08:01:07Z"
    assert by_kind["message.escalated"]["time"] == "2027-01-15T08:01:07Z"
    assert by_kind["message.escalated"]["body"]["escalation"] == 1
    assert by_kind["message.replied"]["body"]["reply"] == "will_comply"
    assert by_kind["party.status"]["body"]["status"] == "talks_suspended"


async def test_entry_bytes_of_each_kind_are_those_of_earlier_versions() -> None:
    """Ledgers written before keep verifying and mean the same: each kind's entry, for a fixed
    salt, is byte for byte what the repository wrote when it recorded writes itself."""
    from unittest import mock

    op = an_operation("op-1", "blue")
    closed = Constraint("k-1", "un", ConstraintKind.NO_FLY, "Aleppo", (volume(),), None, (),
                        ConstraintState.ACTIVE, "k-1-1", 1, T0 + 3, T0 + 3)
    report = StateReport("blue-1", T0 + 4, 36.2, 37.3, 7600.0, 230.0, 270.0, 0.0)
    message = Message("m-1", "blue", "red", Urgency.URGENT, "turning", "north", (), T0 + 7)
    asked = Recipient("m-1", "red", T0 + 8, None, None, None, 1, T0 + 127)
    answered = Recipient("m-1", "red", T0 + 8, ReplyKind.WILL_COMPLY, "ok", T0 + 9, 1, None)
    with mock.patch("secrets.token_hex", return_value="ab" * 16):
        drafts = [
            evidence.party_added(Party("blue", Role.OPERATOR, T0)),
            evidence.operation_changed(op, first=True),
            evidence.constraint_changed(closed, first=True),
            evidence.tracks_reported([Track("blue", report, T0 + 4.5)]),
            evidence.message_sent(message, [Recipient("m-1", "red", escalate_at=T0 + 67)]),
            evidence.message_delivered("m-1", "red", "blue", T0 + 8),
            evidence.message_escalated(asked, "blue", T0 + 67),
            evidence.message_replied(answered, "blue"),
            evidence.party_status(PartyLink("red", PartyStatus.TALKS_SUSPENDED, T0 + 10)),
            evidence.link_test_sent(LinkTest("t-1", "blue", T0 + 11, {})),
            evidence.link_test_acked("t-1", "red", T0 + 12),
            evidence.party_revoked("red", T0 + 13),
        ]
    digest = hashlib.sha256(b"".join(d.entry for d in drafts)).hexdigest()
    # the SHA-256 of these entries as the repository's own recording wrote them (commit ffa9c53)
    assert digest == EARLIER_ENTRIES_SHA256, [d.entry for d in drafts]


EARLIER_ENTRIES_SHA256 = "4e54b606b6e4c7d7378c8b5fe0d42dfc0c168c5b7535263334c966c38952f27e"


async def test_a_failed_unit_of_work_leaves_no_leaf(store) -> None:
    await add_parties(store, "blue")
    before = len(await leaves(store))

    async def work(repo):
        leaf = await declare(repo, an_operation("op-x", "blue"))
        assert leaf.index == before
        raise RuntimeError("refused after the write")

    with pytest.raises(RuntimeError):
        await store.transact(work)
    assert len(await leaves(store)) == before
    assert await store.interact(lambda r: r.operation("op-x")) is None
    await store.transact(lambda r: declare(r, an_operation("op-y", "blue")))
    assert [leaf.index for leaf in await leaves(store)] == list(range(before + 1))


async def test_concurrent_writers_get_gap_free_indices(store) -> None:
    await add_parties(store, "blue")
    await asyncio.gather(*(store.transact(lambda r, i=i: declare(r, 
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
    store = db.open_store()
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
                return await declare(repo, an_operation(f"op-{i}", "blue"))
            return work

        got = await asyncio.gather(store.transact(racer(0)), store.transact(racer(1)))
        assert sum(attempts.values()) >= 3, f"no transaction was retried: {attempts}"
        assert sorted(leaf.index for leaf in got) == [1, 2]  # the committed attempts' leaves
        found = await leaves(store)
        assert [leaf.index for leaf in found] == [0, 1, 2]
        for receipt in got:
            assert found[receipt.index] == receipt
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
        await store.transact(lambda r, i=i: declare(r, an_operation(f"op-{i}", "blue")))
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
            await store.transact(lambda r, i=i, b=batch: declare(r, 
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
                await stores[round_ % 2].transact(lambda r, i=i, n=round_: declare(r, 
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
    await store.transact(lambda r: declare(r, an_operation("op-1", "blue")))
    for reader, full in ((Party("blue", Role.OPERATOR, T0), [True, True, True]),
                         (Party("red", Role.OPERATOR, T0), [True, True, False]),
                         (Party("watch", Role.OBSERVER, T0), [True, True, True])):
        page = await ledger.entries(line, reader, 0, None)
        assert [f for _, f in page.leaves] == full and page.size == 3


async def test_a_receipt_is_the_committed_units_leaf(store) -> None:
    await add_parties(store, "blue")

    async def refused(repo):
        await declare(repo, an_operation("op-2", "blue"))
        raise RuntimeError("no")

    refusing = store.transact(refused)
    receipt, failed = await asyncio.gather(  # committed together on SQLite
        store.transact(lambda r: declare(r, an_operation("op-1", "blue"))), refusing,
        return_exceptions=True)
    assert isinstance(failed, RuntimeError)
    assert receipt.index == 1 and await leaves(store) == [(await leaves(store))[0], receipt]
