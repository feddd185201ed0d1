"""The evidence ledger end to end, on SQLite and PostgreSQL: every write answers with a receipt
that resolves to a signed head and an inclusion proof; heads, proofs and consistency verify
with the package's verifiers and the published key; entries by need-to-know; the CLI exports a
party's view and verifies it, naming each kind of tampering (exit 1, one line, no traceback)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rfc8785

from deconfliction.engine.merkle import (
    MemoryNodeStore,
    append_nodes,
    canonical_entry,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from deconfliction.engine.tree_head import (
    SignedTreeHead,
    generate_private_key,
    private_key_from_pem,
    public_key_from_pem,
    public_key_from_raw_b64,
    public_key_to_pem,
    public_key_to_raw_b64,
    sign_tree_head,
    verify_tree_head,
)

HEX = set("0123456789abcdef")


def head_of(view: dict) -> SignedTreeHead:
    return SignedTreeHead.from_dict({k: view[k] for k in (
        "tree_size", "root_hash", "timestamp_ms", "signature", "key_id")})


def public_key(api):
    return public_key_from_raw_b64(api.expect(api.watch.get("/v1/ledger/key"), 200)["public_key"])


def resolved(api, receipt: dict, timeout_s: float = 15.0) -> dict:
    """GET the receipt until its signed head is there (the promise; bounded, not timed)."""
    assert receipt is not None, "a write must carry a receipt"
    assert isinstance(receipt["leaf_index"], int) and set(receipt["leaf_hash"]) <= HEX
    assert receipt["tree_head"] is None and receipt["url"].endswith(str(receipt["leaf_index"]))
    deadline = time.monotonic() + timeout_s
    while True:
        got = api.expect(api.blue.get(receipt["url"]), 200)
        if not got["pending"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not got["pending"], f"receipt {receipt} unresolved after {timeout_s} s"
    assert got["leaf_index"] == receipt["leaf_index"]
    assert got["leaf_hash"] == receipt["leaf_hash"]
    return got


def verify_receipt(api, receipt: dict) -> SignedTreeHead:
    got = resolved(api, receipt)
    head = head_of(got["tree_head"])
    verify_tree_head(head, public_key(api))
    verify_inclusion(bytes.fromhex(got["leaf_hash"]), got["leaf_index"], head.tree_size,
                     [bytes.fromhex(p) for p in got["inclusion_proof"]], head.root_hash)
    return head


def wait_for_head(api, at_least: int, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = api.watch.get("/v1/ledger/head")
        if resp.status_code == 200 and resp.json()["tree_size"] >= at_least:
            return resp.json()
        if time.monotonic() > deadline:
            pytest.fail(f"no signed head of {at_least} leaves within {timeout_s} s: {resp.text}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# receipts, heads, proofs
# ---------------------------------------------------------------------------------------------


def test_every_write_carries_a_receipt_that_resolves(api, geo, area):
    vol = geo.volume(geo.square(area))
    receipts = []
    op = api.create_op("blue", [vol], notes="private")
    receipts.append(op["receipt"])
    op = api.expect(api.put_op("blue", op["id"], op["ovn"], [vol], priority=2), 200)
    receipts.append(op["receipt"])
    ended = api.expect(api.blue.delete(f"/v1/operations/{op['id']}", params={"ovn": op["ovn"]}),
                       200)
    receipts.append(ended["receipt"])
    far = geo.volume(geo.square(geo.offset(area, 90, 60_000)))
    k = api.create_constraint([far])
    receipts.append(k["receipt"])
    k = api.expect(api.mission.put(f"/v1/constraints/{k['id']}", json={
        "kind": "restricted", "volumes": [far], "applies_to": "all", "exempt": [],
        "name": "changed", "ovn": k["ovn"]}), 200)
    receipts.append(k["receipt"])
    k = api.expect(api.mission.delete(f"/v1/constraints/{k['id']}", params={"ovn": k["ovn"]}),
                   200)
    receipts.append(k["receipt"])
    tracks = api.expect(api.blue.post("/v1/tracks", json={"reports": [{
        "aircraft_id": f"ledger-{area[0]}", "time": geo.at(-1), "lat": area[1], "lon": area[0],
        "altitude_m": 3000, "ground_speed_mps": 100, "track_deg": 90,
        "vertical_rate_mps": 0}]}), 200)
    assert tracks["accepted"] == 1
    receipts.append(tracks["receipt"])
    message = api.expect(api.blue.post("/v1/messages", json={
        "to": "red", "urgency": "routine", "subject": "ledger", "body": ""}), 201)
    receipts.append(message["receipt"])
    reply = api.expect(api.red.post(f"/v1/messages/{message['id']}/replies",
                                    json={"reply": "acknowledged"}), 201)
    receipts.append(reply["receipt"])
    status = api.expect(api.red.put("/v1/parties/me/status",
                                    json={"status": "talks_suspended"}), 200)
    receipts.append(status["receipt"])
    api.expect(api.red.put("/v1/parties/me/status", json={"status": "normal"}), 200)
    test = api.expect(api.blue.post("/v1/line/test"), 201)
    receipts.append(test["receipt"])
    ack = api.expect(api.red.post(f"/v1/line/test/{test['id']}/ack"), 200)
    receipts.append(ack["receipt"])

    indices = [r["leaf_index"] for r in receipts]
    assert indices == sorted(indices) and len(set(indices)) == len(indices), indices
    for receipt in receipts:
        verify_receipt(api, receipt)
    # the entry behind a receipt says what was accepted
    entry = leaf_entry(api, "blue", receipts[0]["leaf_index"])
    assert entry["kind"] == "operation.declared" and entry["body"]["notes"] == "private"
    assert leaf_entry(api, "red", receipts[7]["leaf_index"])["body"]["subject"] == "ledger"


def leaf_entry(api, party: str, index: int) -> dict:
    page = api.expect(api.as_(party).get("/v1/ledger/entries",
                                         params={"start": index, "end": index + 1}), 200)
    (leaf,) = page["entries"]
    return leaf["entry"]


def test_heads_proofs_and_consistency(api, geo, area):
    key = api.expect(api.blue.get("/v1/ledger/key"), 200)
    public = public_key_from_raw_b64(key["public_key"])
    assert public_key_to_raw_b64(public_key_from_pem(key["public_key_pem"].encode())) == key[
        "public_key"]
    assert key["algorithm"] == "Ed25519" and len(key["key_id"]) == 64
    first = api.create_op("blue", [geo.volume(geo.square(area))])["receipt"]
    old = head_of(wait_for_head(api, first["leaf_index"] + 1))
    verify_tree_head(old, public)
    api.create_op("red", [geo.volume(geo.square(geo.offset(area, 0, 50_000)))])
    last = api.create_op("blue", [geo.volume(geo.square(geo.offset(area, 180, 50_000)))])
    view = wait_for_head(api, last["receipt"]["leaf_index"] + 1)
    new = head_of(view)
    verify_tree_head(new, public)
    assert view["timestamp"].endswith("Z") and new.timestamp_ms >= old.timestamp_ms
    assert new.tree_size > old.tree_size

    proof = api.expect(api.red.get("/v1/ledger/proofs/consistency",
                                   params={"first": old.tree_size, "second": new.tree_size}), 200)
    verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash,
                       [bytes.fromhex(p) for p in proof["consistency_proof"]])
    assert head_of(proof["first_head"]) == old and head_of(proof["second_head"]) == new
    for index in range(max(0, new.tree_size - 5), new.tree_size):
        got = api.expect(api.red.get("/v1/ledger/proofs/inclusion",
                                     params={"index": index, "tree_size": new.tree_size}), 200)
        verify_inclusion(bytes.fromhex(got["leaf_hash"]), index, new.tree_size,
                         [bytes.fromhex(p) for p in got["inclusion_proof"]], new.root_hash)
    latest = api.expect(api.red.get("/v1/ledger/proofs/inclusion", params={"index": 0}), 200)
    assert latest["tree_size"] >= new.tree_size


def test_bad_arguments_are_problems(api):
    size = wait_for_head(api, 1)["tree_size"]
    for path, params in (
        ("/v1/ledger/proofs/inclusion", {"index": size}),
        ("/v1/ledger/proofs/inclusion", {"index": 0, "tree_size": size + 10**6}),
        ("/v1/ledger/proofs/inclusion", {"index": -1}),
        ("/v1/ledger/proofs/inclusion", {"index": "x"}),
        ("/v1/ledger/proofs/inclusion", {"index": 2**80}),
        ("/v1/ledger/proofs/inclusion", {}),
        ("/v1/ledger/proofs/consistency", {"first": 0}),
        ("/v1/ledger/proofs/consistency", {"first": 2, "second": 1}),
        ("/v1/ledger/proofs/consistency", {"first": 1, "second": size + 10**6}),
        ("/v1/ledger/entries", {"start": 5, "end": 5}),
        ("/v1/ledger/entries", {"start": 0, "end": 5000}),
        ("/v1/ledger/receipts/-1", {}),
        ("/v1/ledger/receipts/x", {}),
    ):
        api.problem(api.blue.get(path, params=params), 400, "validation_error")
    api.problem(api.blue.get(f"/v1/ledger/receipts/{10**12}"), 404, "not_found")
    api.problem(api.anon.get("/v1/ledger/head"), 401)


def test_entries_by_need_to_know(api, geo, area):
    op = api.create_op("blue", [geo.volume(geo.square(area))], notes="secret plan",
                       callsigns=["BLUE 7"])
    index = op["receipt"]["leaf_index"]
    views = {party: api.expect(api.as_(party).get("/v1/ledger/entries", params={
        "start": index, "end": index + 1}), 200) for party in ("blue", "red", "mission", "watch")}
    for party in ("red", "mission"):  # another party: the hash only
        assert views[party]["entries"] == [{"index": index,
                                            "leaf_hash": op["receipt"]["leaf_hash"]}]
        assert "secret plan" not in json.dumps(views[party])
    for party in ("blue", "watch"):  # the owner, and observers: the entry, which hashes right
        (leaf,) = views[party]["entries"]
        assert leaf["entry"]["body"]["notes"] == "secret plan"
        digest = hashlib.sha256(b"\x00" + rfc8785.dumps(leaf["entry"])).hexdigest()
        assert digest == leaf["leaf_hash"] == op["receipt"]["leaf_hash"]
    page = api.expect(api.red.get("/v1/ledger/entries", params={"start": 0}), 200)
    assert [e["index"] for e in page["entries"]] == list(range(len(page["entries"])))
    assert page["size"] >= index + 1
    assert any(e.get("entry", {}).get("kind") == "party.added" for e in page["entries"])


# ---------------------------------------------------------------------------------------------
# the CLI: export, verify, tampering
# ---------------------------------------------------------------------------------------------


def verify(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deconfliction", "ledger", "verify", str(path), *extra],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))


def refused(proc: subprocess.CompletedProcess, what: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"verification failed: {what}:" in lines[0], lines[0]
    return lines[0]


def private_key_of(db):
    """Whoever runs the line can read its key: what a forger would use."""
    query = "SELECT private_key_pem FROM ledger_key"
    if db.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(db.path) as c:
            pem = c.execute(query).fetchone()[0]
    else:
        import psycopg

        with psycopg.connect(db.url) as c:
            pem = c.execute(query).fetchone()[0]
    return private_key_from_pem(pem.encode())


def test_export_and_verify_name_every_tampering(api, server, cli, geo, area, tmp_path):
    for i in range(3):
        api.expect(api.blue.post("/v1/messages", json={
            "to": "red", "urgency": "routine", "subject": f"to red {i}", "body": "x"}), 201)
        sent = api.expect(api.blue.post("/v1/messages", json={
            "to": "mission", "urgency": "routine", "subject": f"not for red {i}"}), 201)
    saved_view = wait_for_head(api, sent["receipt"]["leaf_index"] + 1)  # red keeps this head
    saved = tmp_path / "saved-head.json"
    saved.write_text(json.dumps(saved_view))
    key = tmp_path / "key.json"
    key.write_text(api.watch.get("/v1/ledger/key").text)
    last = api.create_op("blue", [geo.volume(geo.square(area))])["receipt"]

    out = tmp_path / "red.jsonl"
    proc = cli.run(server.db, "ledger", "export", "--party", "red", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    header, leaves = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["tree_head"]["tree_size"] == len(leaves) > last["leaf_index"]
    mine = [leaf for leaf in leaves if "entry" in leaf]
    assert any(leaf["entry"]["body"].get("subject") == "to red 0" for leaf in mine)
    assert "not for red" not in out.read_text()

    ok = verify(out, "--head", str(saved), "--key", str(key))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ") and f"saved head of size {saved_view['tree_size']}" in (
        ok.stdout)
    head_file = tmp_path / "cli-head.json"
    assert cli.run(server.db, "ledger", "head", str(head_file)).returncode == 0
    if json.loads(head_file.read_text())["tree_size"] == len(leaves):
        assert verify(out, "--head", str(head_file)).returncode == 0
    else:  # something was written since the export: it is older than that head
        refused(verify(out, "--head", str(head_file)), "rollback")

    def write(name: str, items: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(items) + "\n")
        return path

    at = next(i for i, leaf in enumerate(leaves, start=1)
              if leaf.get("entry", {}).get("body", {}).get("subject") == "to red 1")
    changed = list(lines)
    changed[at] = changed[at].replace("to red 1", "to red 2")
    refused(verify(write("changed.jsonl", changed)), "entry changed")
    refused(verify(write("dropped.jsonl", lines[:at] + lines[at + 1:])), "entry dropped")
    refused(verify(write("inserted.jsonl", lines[:at] + [lines[at]] + lines[at:])),
            "entry inserted")
    swapped = list(lines)
    swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]
    refused(verify(write("reordered.jsonl", swapped)), "entries reordered")
    hidden = next(i for i, leaf in enumerate(leaves, start=1) if "entry" not in leaf)
    flipped = list(lines)
    digest = leaves[hidden - 1]["leaf_hash"]
    flipped[hidden] = flipped[hidden].replace(digest, digest[:-1] + ("1" if digest[-1] == "0"
                                                                     else "0"))
    refused(verify(write("hash.jsonl", flipped)), "leaf hash changed")
    signature = header["tree_head"]["signature"]
    bad = bytearray(base64.b64decode(signature))
    bad[10] ^= 0x20
    resigned = [lines[0].replace(signature, base64.b64encode(bytes(bad)).decode())] + lines[1:]
    refused(verify(write("signature.jsonl", resigned)), "signature invalid")

    # a fork: the line's operator rewrites red's first message and re-signs everything
    first = next(i for i, leaf in enumerate(leaves)
                 if leaf.get("entry", {}).get("body", {}).get("subject") == "to red 0")
    assert first < saved_view["tree_size"]
    forged = [dict(leaf) for leaf in leaves]
    forged[first]["entry"] = forged[first]["entry"] | {"time": "2020-01-01T00:00:00Z"}
    forged[first]["leaf_hash"] = leaf_hash(canonical_entry(forged[first]["entry"])).hex()
    nodes = MemoryNodeStore()
    nodes.put_many(append_nodes(0, [bytes.fromhex(leaf["leaf_hash"]) for leaf in forged], nodes))
    head = sign_tree_head(private_key_of(server.db), len(forged), root(len(forged), nodes),
                          header["tree_head"]["timestamp_ms"])
    fork = write("fork.jsonl", [json.dumps(header | {"tree_head": head.to_dict()})]
                 + [json.dumps(leaf) for leaf in forged])
    assert verify(fork, "--key", str(key)).returncode == 0  # consistent in itself ...
    line = refused(verify(fork, "--head", str(saved), "--key", str(key)), "fork")
    assert f"{saved_view['tree_size']} leaves" in line  # ... but not with what red kept

    other = tmp_path / "other.pem"
    other.write_bytes(public_key_to_pem(generate_private_key().public_key()))
    refused(verify(out, "--key", str(other)), "key mismatch")


def test_tampering_in_the_database_is_caught(api, server, cli, tmp_path):
    """The operator edits a stored entry in place: the export no longer matches the head."""
    message = api.expect(api.blue.post("/v1/messages", json={
        "to": "red", "urgency": "distress", "subject": "guard call", "body": "turn now"}), 201)
    index = message["receipt"]["leaf_index"]
    wait_for_head(api, index + 1)
    saved = tmp_path / "head.json"
    saved.write_text(api.red.get("/v1/ledger/head").text)
    update = "UPDATE ledger_leaf SET entry = {p} WHERE idx = {p}"
    if server.db.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(server.db.path) as c:
            old = c.execute("SELECT entry FROM ledger_leaf WHERE idx = ?", (index,)).fetchone()[0]
            c.execute(update.format(p="?"), (old.replace(b"turn now", b"hold on!"), index))
    else:
        import psycopg

        with psycopg.connect(server.db.url) as c:
            old = c.execute("SELECT entry FROM ledger_leaf WHERE idx = %s",
                            (index,)).fetchone()[0]
            c.execute(update.format(p="%s"), (bytes(old).replace(b"turn now", b"hold on!"), index))
    out = tmp_path / "red.jsonl"
    assert cli.run(server.db, "ledger", "export", "--party", "red", str(out)).returncode == 0
    refused(verify(out, "--head", str(saved)), "entry changed")


def test_fuzzed_ledger_requests_meet_no_server_error(server):
    """Schema-driven requests to every ledger endpoint: 2xx or a 4xx problem, never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    cases = st.one_of([op.as_strategy() for op in operations if op.path.startswith("/v1/ledger")])
    headers = {"Authorization": f"Bearer {server.tokens['red']}"}

    @given(case=cases)
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    fuzz()


def test_incident_package(api, server, cli, geo, area, tmp_path):
    pytest.importorskip("matplotlib", reason="the incident extra (matplotlib) is not installed")
    start = geo.at(-5)
    op = api.create_op("blue", [geo.volume(geo.square(area), start=-60, end=3600)])
    message = api.expect(api.blue.post("/v1/messages", json={
        "to": "red", "urgency": "urgent", "subject": "in the area", "refs": [op["id"]]}), 201)
    api.expect(api.red.post(f"/v1/messages/{message['id']}/replies",
                            json={"reply": "will_comply"}), 201)
    out = tmp_path / "incident"
    where = json.dumps({"type": "Circle", "center": list(area), "radius_m": 20_000})
    proc = cli.run(server.db, "incident", "export", "--from", start, "--to", geo.at(60),
                   "--area", where, str(out))
    assert proc.returncode == 0, proc.stderr
    package = json.loads((out / "incident.json").read_text())
    assert [o["id"] for o in package["operations"]] == [op["id"]]
    assert [m["id"] for m in package["messages"]] == [message["id"]]
    assert "message.replied" in {t["kind"] for t in package["traffic"]}
    head = head_of(package["tree_head"])
    verify_tree_head(head, public_key(api))
    for leaf in package["ledger"]:
        verify_inclusion(leaf_hash(canonical_entry(leaf["entry"])), leaf["index"],
                         head.tree_size, [bytes.fromhex(p) for p in leaf["inclusion_proof"]],
                         head.root_hash)
    for name in ("timeline.png", "map.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    bad = cli.run(server.db, "incident", "export", "--from", start, "--to", geo.at(60),
                  "--area", '{"type": "Point"}', str(tmp_path / "bad"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "area" in bad.stderr
