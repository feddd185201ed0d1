"""Auditing an export: a real ledger (SQLite file) exported for one party, then tampered with in
every way the issue names — each detected and named, never passed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from deconfliction.engine.ledger_audit import Tampered, audit, decode_key, head_from_json
from deconfliction.engine.merkle import (
    MemoryNodeStore,
    append_nodes,
    canonical_entry,
    leaf_hash,
    root,
)
from deconfliction.engine.tree_head import (
    generate_private_key,
    private_key_from_pem,
    public_key_to_pem,
    public_key_to_raw_b64,
    sign_tree_head,
)
from deconfliction.model.message import Message, Recipient, Urgency
from deconfliction.model.party import Party, Role
from deconfliction.service import evidence, ledger
from deconfliction.service.ledger_export import export, read_export
from deconfliction.service.line import Line
from deconfliction.store import open_store

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


async def send(repo, m: Message) -> None:
    """``m`` stored and recorded, as sending it does."""
    recipients = [Recipient(m.id, m.to)]
    await repo.insert_message(m, recipients)
    await repo.append_leaves([evidence.message_sent(m, recipients)])


@pytest.fixture
async def exported(tmp_path: Path):
    """A ledger of 24 leaves, red's export of it (saved head taken at 13 leaves), the key."""
    store = open_store(db_path=tmp_path / "line.db")
    line = Line(store, clock=lambda: T0 + 100)
    try:
        async def parties(repo):
            for name, role in (("blue", Role.OPERATOR), ("red", Role.OPERATOR),
                               ("mission", Role.AUTHORITY), ("watch", Role.OBSERVER)):
                await repo.add_party(Party(name, role, T0), name * 8)
                await repo.append_leaves([evidence.party_added(Party(name, role, T0))])
        await store.transact(parties)
        for i in range(20):
            sender, to = [("red", "blue"), ("blue", "red"), ("blue", "mission")][i % 3]
            m = Message(f"m-{i}", sender, to, Urgency.ROUTINE, f"subject {i}", "body", (),
                        T0 + i)
            await store.transact(lambda r, m=m: send(r, m))
            if i == 8:  # the party saves a head part-way
                key = await ledger.signing_key(line)
                await ledger.sign_pending(line, key)
                saved = await ledger.latest_head(line)
        out = tmp_path / "red.jsonl"
        await export(line, "red", out)
        stored = await store.interact(lambda r: r.ledger_key())
    finally:
        await store.close()
    header, leaves = read_export(out)
    return out, header, list(leaves), saved, private_key_from_pem(stored.private_key_pem)


def check(header, leaves, **kw):
    return audit(header, leaves, **kw)


def tampered(what: str, header, leaves, **kw) -> str:
    with pytest.raises(Tampered) as caught:
        audit(header, leaves, **kw)
    assert caught.value.what == what, str(caught.value)
    message = str(caught.value)
    assert "\n" not in message
    return message


def copy(leaves):
    return [dict(leaf) for leaf in leaves]


async def test_an_untouched_export_verifies(exported) -> None:
    _, header, leaves, saved, key = exported
    done = check(header, leaves, key=key.public_key(), saved=saved)
    assert done.leaves == 24 == done.head.tree_size and done.saved == saved
    assert saved.tree_size == 13
    # red reads its own messages and the public entries (party.added) in full, not the others'
    assert done.entries == sum("entry" in leaf for leaf in leaves) == 4 + 14
    red_only = [leaf for leaf in leaves if "entry" in leaf and leaf["entry"]["kind"] == (
        "message.sent")]
    assert all("red" in leaf["entry"]["parties"] for leaf in red_only)


async def test_need_to_know_in_the_export(tmp_path: Path) -> None:
    store = open_store(db_path=tmp_path / "line.db")
    line = Line(store, clock=lambda: T0)
    try:
        async def setup(repo):
            for name, role in (("blue", Role.OPERATOR), ("red", Role.OPERATOR),
                               ("mission", Role.OPERATOR), ("watch", Role.OBSERVER)):
                await repo.add_party(Party(name, role, T0), name * 8)
                await repo.append_leaves([evidence.party_added(Party(name, role, T0))])
            await send(repo, Message("m", "blue", "red", Urgency.ROUTINE, "secret", "", (), T0))
        await store.transact(setup)
        files = {}
        for party in ("blue", "red", "mission", "watch"):
            files[party] = tmp_path / f"{party}.jsonl"
            await export(line, party, files[party], start=T0, end=T0 + 1)
    finally:
        await store.close()
    seen = {party: [leaf for leaf in read_export(path)[1] if leaf["index"] == 4][0]
            for party, path in files.items()}
    assert seen["blue"]["entry"]["body"]["subject"] == "secret" == seen["watch"][
        "entry"]["body"]["subject"]
    assert "entry" in seen["red"] and "entry" not in seen["mission"]
    assert "secret" not in files["mission"].read_text()
    assert seen["mission"]["leaf_hash"] == seen["blue"]["leaf_hash"]


async def test_a_changed_byte_in_an_entry(exported) -> None:
    _, header, leaves, _, key = exported
    changed = copy(leaves)
    at = next(i for i, leaf in enumerate(changed) if "entry" in leaf and i > 3)
    changed[at]["entry"] = json.loads(json.dumps(changed[at]["entry"]).replace(
        "subject", "subjecT", 1))
    assert f"leaf {at}'s entry" in tampered("entry changed", header, changed)


async def test_a_changed_leaf_hash(exported) -> None:
    _, header, leaves, _, _ = exported
    changed = copy(leaves)
    at = next(i for i, leaf in enumerate(changed) if "entry" not in leaf)
    digest = changed[at]["leaf_hash"]
    changed[at]["leaf_hash"] = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    tampered("leaf hash changed", header, changed)


async def test_a_dropped_entry(exported) -> None:
    _, header, leaves, _, _ = exported
    assert "leaf 7 is missing" in tampered("entry dropped", header, leaves[:7] + leaves[8:])
    tampered("entry dropped", header, leaves[:-1])


async def test_an_inserted_entry(exported) -> None:
    _, header, leaves, _, _ = exported
    tampered("entry inserted", header, leaves[:5] + [dict(leaves[4])] + leaves[5:])
    extra = dict(leaves[-1]) | {"index": len(leaves)}
    tampered("entry inserted", header, leaves + [extra])
    renumbered = copy(leaves[:5]) + [dict(leaves[4])] + copy(leaves[5:-1])  # shifted, same count
    for i, leaf in enumerate(renumbered):
        leaf["index"] = i
    tampered("leaf hash changed", header, renumbered)


async def test_reordered_entries(exported) -> None:
    _, header, leaves, _, _ = exported
    swapped = copy(leaves)
    swapped[6], swapped[7] = swapped[7], swapped[6]
    assert "leaf 6 comes after leaf 7" in tampered("entries reordered", header, swapped)
    for i, leaf in enumerate(swapped):  # renumbered to hide it: the tree shows it all the same
        leaf["index"] = i
    tampered("leaf hash changed", header, swapped)


async def test_a_changed_signature_or_head(exported) -> None:
    _, header, leaves, saved, key = exported
    head = dict(header["tree_head"])
    signature = bytearray(base64.b64decode(head["signature"]))
    signature[0] ^= 1
    forged = dict(header) | {"tree_head": head | {
        "signature": base64.b64encode(bytes(signature)).decode()}}
    tampered("signature invalid", forged, leaves)
    bigger = dict(header) | {"tree_head": head | {"tree_size": head["tree_size"] + 1}}
    tampered("signature invalid", bigger, leaves)


async def test_the_wrong_key(exported) -> None:
    _, header, leaves, _, _ = exported
    other = generate_private_key().public_key()
    tampered("key mismatch", header, leaves, key=other)
    swapped = dict(header) | {"key": dict(header["key"]) | {
        "public_key": public_key_to_raw_b64(other)}}
    tampered("signature invalid", swapped, leaves)


async def test_a_fork_is_caught_by_a_saved_head(exported) -> None:
    """Whoever runs the line holds the key: it can rewrite a leaf and sign a new head. The
    export then checks out on its own — but not against a head the party saved before."""
    _, header, leaves, saved, key = exported
    rewritten = copy(leaves)
    at = next(i for i, leaf in enumerate(rewritten) if "entry" in leaf and 3 < i < 9)
    rewritten[at]["entry"] = rewritten[at]["entry"] | {"time": "2027-01-15T09:00:00Z"}
    rewritten[at]["leaf_hash"] = leaf_hash(canonical_entry(rewritten[at]["entry"])).hex()
    nodes = MemoryNodeStore()
    nodes.put_many(append_nodes(0, [bytes.fromhex(leaf["leaf_hash"]) for leaf in rewritten],
                                nodes))
    old = header["tree_head"]
    head = sign_tree_head(key, old["tree_size"], root(old["tree_size"], nodes),
                          old["timestamp_ms"] + 1)
    forked = dict(header) | {"tree_head": head.to_dict()}
    check(forked, rewritten, key=key.public_key())  # consistent in itself
    message = tampered("fork", forked, rewritten, key=key.public_key(), saved=saved)
    assert f"{saved.tree_size} leaves" in message


async def test_a_rollback_is_caught_by_a_saved_head(exported) -> None:
    _, header, leaves, saved, key = exported
    newer = sign_tree_head(key, 30, saved.root_hash, saved.timestamp_ms)
    tampered("rollback", header, leaves, saved=newer)


async def test_malformed_files(exported, tmp_path: Path) -> None:
    out, header, leaves, _, _ = exported
    text = out.read_bytes().splitlines()
    for broken in (text[:1] + [b"{not json"] + text[2:], text[:1] + [b"[1]"] + text[2:],
                   text[:1] + [text[1][:-3] + b"\xff\xfe}"] + text[2:], [b"NaN"]):
        path = tmp_path / "broken.jsonl"
        path.write_bytes(b"\n".join(broken) + b"\n")
        with pytest.raises(Tampered) as caught:
            list(read_export(path)[1])
        assert caught.value.what == "malformed"
    tampered("malformed", header, leaves[:3] + [{"index": "3"}] + leaves[4:])
    tampered("malformed", header, leaves[:3] + [leaves[3] | {"leaf_hash": "AB"}] + leaves[4:])
    tampered("malformed", dict(header) | {"format": "other"}, leaves)
    with pytest.raises(Tampered):
        head_from_json({"tree_size": 1}, "a head")


async def test_keys_as_parties_save_them(exported) -> None:
    _, header, _, _, key = exported
    public = key.public_key()
    raw = public_key_to_raw_b64(public)
    for text in (public_key_to_pem(public).decode(), raw, json.dumps({"public_key": raw})):
        assert public_key_to_raw_b64(decode_key(text)) == raw
    with pytest.raises(ValueError):
        decode_key("not a key")
