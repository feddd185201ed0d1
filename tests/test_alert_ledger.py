"""Alerts through the detection cycle into the ledger, the event streams, the entries page and
the exports, on both backends: each party reads only its own view of an alert (no other party's
aircraft id, callsign, ICAO address or party), observers read the whole truth, every reader's
leaves are proven included, and an alert entry of the old one-leaf-for-all format is hash-only
to every party.

Service level with a fake clock: a real store, the real cycle, no server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from deconfliction.engine.ledger_audit import audit
from deconfliction.engine.merkle import verify_inclusion
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import StateReport
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import access, evidence, ledger, tracks
from deconfliction.service.incident import collect
from deconfliction.service.ledger_export import export, read_export
from deconfliction.service.line import Line
from deconfliction.service.tactical import DetectionCycle
from deconfliction.service.volume_index import constraint_cells

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0

BLUE = Party("blue", Role.OPERATOR, T0)
RED = Party("red", Role.OPERATOR, T0)
UN = Party("un", Role.AUTHORITY, T0)
WATCH = Party("watch", Role.OBSERVER, T0)
GREEN = Party("green", Role.OPERATOR, T0)  # concerned by nothing
EVERYONE = (BLUE, RED, UN, WATCH, GREEN)

# identities planted for the search: none holds a party's name
SECRETS = {"blue": ["hawk-7", "HAWK 07", "a1b2c3"], "red": ["kite-3", "KITE 03", "d4e5f6"]}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def _scenario(store) -> tuple[Line, Clock]:
    """blue's and red's aircraft closing head-on at one altitude, red's inside the UN's no-fly
    circle (closed to red); two detection cycles raise a conflict and an incursion."""
    clock = Clock()
    line = Line(store, clock=clock)

    async def setup(repo):
        for p in EVERYONE:
            await repo.add_party(p, hashlib.sha256(p.name.encode()).hexdigest())
        closed = Constraint(
            "c-1", "un", ConstraintKind.NO_FLY, "Aleppo",
            (Volume(CircleFootprint((37.2, 36.2), 3000.0), 0.0, 20000.0, T0 - 60, T0 + 3600),),
            ("red",), (), ConstraintState.ACTIVE, "c-1-1", 1, T0, T0)
        await repo.insert_constraint(closed, constraint_cells(closed))
    await store.transact(setup)
    for who, ident, lon, heading in ((BLUE, SECRETS["blue"], 37.0, 90.0),
                                     (RED, SECRETS["red"], 37.2, 270.0)):
        from deconfliction.model.track import Aircraft
        await tracks.register_aircraft(line, who, Aircraft(ident[0], who.name, ident[2],
                                                           ident[1]))
        await tracks.report_tracks(line, who, [StateReport(
            ident[0], T0, 36.2, lon, 7600.0, 230.0, heading, 0.0)], T0)
    cycle = DetectionCycle(line, new_id=iter(f"alert-{i}" for i in range(1, 99)).__next__)
    for step in (1.0, 2.0):
        clock.now = T0 + step
        await cycle.step(clock.now)
    key = await ledger.signing_key(line)
    while await ledger.sign_pending(line, key) is not None:
        pass
    return line, clock


def _others(reader: Party) -> list[str]:
    """What ``reader`` may never learn of an alert: the other party's aircraft identity."""
    return [s for owner, found in SECRETS.items() if owner != reader.name for s in found]


async def _alert_leaves(store):
    return [leaf for leaf in await store.interact(lambda r: r.ledger_leaves(0, 10**6))
            if leaf.kind.startswith("alert.")]


async def test_each_alert_transition_is_one_leaf_per_reader_view(store) -> None:
    await _scenario(store)
    found = await _alert_leaves(store)
    conflict = [leaf for leaf in found if leaf.content()["body"]["kind"] == "conflict"]
    incursion = [leaf for leaf in found
                 if leaf.content()["body"]["kind"] == "constraint_incursion"]
    assert [leaf.parties for leaf in conflict] == [("blue",), ("red",), ()]
    assert [leaf.parties for leaf in incursion] == [("red",), ("un",), ()]
    truth = conflict[-1].content()["body"]
    assert truth["view"] == access.OBSERVERS_VIEW and truth["parties"] == ["blue", "red"]
    assert {a["aircraft_id"] for a in truth["details"]["aircraft"]} == {"hawk-7", "kite-3"}
    assert {a["icao24"] for a in truth["details"]["aircraft"]} == {"a1b2c3", "d4e5f6"}


async def test_every_reader_reads_only_its_views_and_each_proves_included(store) -> None:
    line, _ = await _scenario(store)
    head = await ledger.latest_head(line)
    for reader in EVERYONE:
        page = await ledger.entries(line, reader, 0, None)
        readable = [leaf for leaf, full in page.leaves if full]
        alerts = [leaf for leaf in readable if leaf.kind.startswith("alert.")]
        text = json.dumps([access.entry_view(leaf, reader) for leaf, _ in page.leaves])
        if reader is WATCH:
            assert len(alerts) == 6  # every view and the truth of both alerts
            assert all(s in text for found in SECRETS.values() for s in found)
            continue
        assert len(alerts) == {"blue": 1, "red": 2, "un": 1, "green": 0}[reader.name]
        leaks = [s for s in _others(reader) if s in text]
        assert not leaks, f"{reader.name} reads {leaks}"
        for leaf in alerts:
            assert leaf.parties == (reader.name,)
            body = leaf.content()["body"]
            assert "parties" not in body and reader.name not in [
                a.get("party") for a in body["details"]["aircraft"] if not a["own"]]
        proofs = await store.interact(lambda r, found=alerts: ledger.inclusion_proofs(
            r, [leaf.index for leaf in found], head.tree_size))
        for leaf in alerts:
            verify_inclusion(leaf.leaf_hash, leaf.index, head.tree_size, proofs[leaf.index],
                             head.root_hash)


async def test_alert_events_carry_only_the_readers_view(store) -> None:
    await _scenario(store)
    for reader in (BLUE, RED, UN):
        events = await store.interact(lambda r, p=reader.name: r.events(p, after=0, limit=100))
        alerts = [e for e in events if e.kind.startswith("alert.")]
        assert alerts, f"{reader.name} was told of no alert"
        text = json.dumps([e.data for e in alerts])
        assert not [s for s in _others(reader) if s in text]
        assert all(any(a["own"] for a in e.data["aircraft"]) == (reader is not UN)
                   for e in alerts)


async def test_exports_verify_and_hold_only_what_the_party_may_know(store, tmp_path: Path):
    line, _ = await _scenario(store)
    for reader in EVERYONE:
        out = tmp_path / f"{reader.name}.jsonl"
        await export(line, reader.name, out)
        header, leaves = read_export(out)
        audited = audit(header, leaves)
        text = out.read_text()
        if reader is WATCH:
            assert all(s in text for found in SECRETS.values() for s in found)
        else:
            assert not [s for s in _others(reader) if s in text], reader.name
        assert audited.leaves == audited.head.tree_size
        assert (audited.entries > 0) == (reader is not GREEN)  # green: no record of its own


async def test_an_old_format_alert_leaf_is_hash_only_to_every_party(store) -> None:
    line = Line(store, clock=lambda: T0)

    async def work(repo):
        for p in EVERYONE:
            await repo.add_party(p, hashlib.sha256(p.name.encode()).hexdigest())
        old_body = {"id": "a-old", "kind": "conflict", "key": ["conflict", "hawk-7", "kite-3"],
                    "state": "raised", "parties": ["blue", "red"],
                    "details": {"aircraft": [{"aircraft_id": "hawk-7", "party": "blue"},
                                             {"aircraft_id": "kite-3", "party": "red"}]}}
        single = {**old_body, "parties": ["blue"]}
        return await repo.append_leaves([
            evidence.draft("alert.raised", ["blue", "red"], old_body, T0),
            evidence.draft("alert.updated", ["blue"], single, T0)])
    old = await store.transact(work)
    for reader in (BLUE, RED, UN, GREEN):
        assert not [leaf for leaf in old if access.leaf_readable(leaf, reader)]
        page = await ledger.entries(line, reader, old[0].index, old[-1].index + 1)
        assert [access.entry_view(leaf, reader) for leaf, _ in page.leaves] == [
            {"index": leaf.index, "leaf_hash": leaf.leaf_hash.hex()} for leaf in old]
    assert all(access.leaf_readable(leaf, WATCH) for leaf in old)


async def test_incident_packages_by_reader(store, tmp_path: Path) -> None:
    line, _ = await _scenario(store)
    whole = (await collect(line, T0 - 10, T0 + 10)).to_json()
    assert {a["view"] for a in whole["alerts"]} == {access.OBSERVERS_VIEW}
    assert len(whole["alerts"]) == 2
    text = json.dumps(whole)
    assert all(s in text for found in SECRETS.values() for s in found)
    for reader in (BLUE, RED, UN):
        package = (await collect(line, T0 - 10, T0 + 10, reader=reader)).to_json()
        assert package["alerts"] and all(a["view"] == access.PARTY_VIEW
                                         for a in package["alerts"])
        text = json.dumps(package)
        assert not [s for s in _others(reader) if s in text], reader.name
    pytest.importorskip("matplotlib", reason="the incident extra (matplotlib) is not installed")
    from deconfliction.cli.incident_plots import situation_map, timeline

    for draw in (timeline, situation_map):  # anonymous traffic is drawn too
        draw(package, tmp_path / "chart.png")
        assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
