"""The incident package (a stretch of the ledger issue): the picture of a past window rebuilt
from the ledger, cut to an area, every entry with a proof that verifies, and its charts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import rfc8785

from deconfliction.engine.merkle import verify_inclusion
from deconfliction.model.alert import (
    AircraftSide,
    AircraftState,
    Alert,
    AlertKind,
    AlertState,
    Encounter,
    EncounterFigures,
    Nonconformance,
)
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.message import Message, Recipient, ReplyKind, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import StateReport, Track
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import evidence
from deconfliction.service.errors import ValidationFailed
from deconfliction.service.incident import collect
from deconfliction.service.line import Line
from deconfliction.service.tactical import commit_alert
from deconfliction.service.volume_index import constraint_cells, operation_cells
from deconfliction.store import open_store

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0
ALEPPO = (37.16, 36.20)
PALMYRA = (38.27, 34.55)


def operation(op_id: str, owner: str, centre, at: float, **changes) -> Operation:
    values = dict(id=op_id, owner=owner, volumes=(Volume(CircleFootprint(centre, 5000.0), 3000.0,
                                                         6000.0, T0, T0 + 7200),),
                  priority=1, state=OperationState.ACTIVATED, ovn=f"{op_id}-{at}", version=1,
                  short_notice=False, callsigns=(f"{owner.upper()} 1",), notes="",
                  created_at=at, updated_at=at)
    values.update(changes)
    return Operation(**values)


def state(aircraft: str, party: str, lon: float, lat: float, at: float) -> AircraftSide:
    return AircraftSide(party, aircraft, None, None,
                        AircraftState(at, lat, lon, 4000.0, 200.0, 90.0, 0.0))


def encounter(blue: AircraftSide, red: AircraftSide) -> Encounter:
    return Encounter((blue, red), EncounterFigures(10.0, 40.0, 25.0, 300.0, 0.0, False),
                     "en-route")


@pytest.fixture
async def line(tmp_path: Path):
    store = open_store(db_path=tmp_path / "line.db")
    line = Line(store, clock=lambda: T0 + 3600)

    async def history(repo) -> None:
        # each write and its evidence, as the use cases record them (service.evidence)
        async def record(*drafts) -> None:
            await repo.append_leaves(list(drafts))

        for name, role in (("blue", Role.OPERATOR), ("red", Role.OPERATOR),
                           ("mission", Role.AUTHORITY)):
            await repo.add_party(Party(name, role, T0 - 100), name * 8)
            await record(evidence.party_added(Party(name, role, T0 - 100)))
        for op in (operation("op-aleppo", "blue", ALEPPO, T0 - 50),
                   operation("op-palmyra", "red", PALMYRA, T0 - 40),
                   operation("op-gone", "red", ALEPPO, T0 - 30)):
            await repo.insert_operation(op, operation_cells(op))
            await record(evidence.operation_changed(op, first=True))
        gone = operation("op-gone", "red", ALEPPO, T0 - 20, state=OperationState.ENDED,
                         version=2)
        await repo.update_operation(gone, operation_cells(gone))
        await record(evidence.operation_changed(gone, first=False))
        closed = Constraint(
            "k-aleppo", "mission", ConstraintKind.NO_FLY, "Aleppo",
            (Volume(CircleFootprint(ALEPPO, 15000.0), 0.0, 18000.0, T0 - 60, T0 + 86400),),
            None, (), ConstraintState.ACTIVE, "k-1", 1, T0 - 60, T0 - 60)
        await repo.insert_constraint(closed, constraint_cells(closed))
        await record(evidence.constraint_changed(closed, first=True))
        key = ("conflict", "blue-1", "red-1")
        raised = Alert("a-1", AlertKind.CONFLICT, key, ("blue", "red"), AlertState.RAISED,
                       T0 + 60, T0 + 60, None, encounter(
                           state("blue-1", "blue", 37.10, 36.20, T0 + 60),
                           state("red-1", "red", 37.30, 36.21, T0 + 60)))
        await commit_alert(repo, "raised", raised, T0 + 60)
        await commit_alert(repo, "updated", Alert(
            "a-1", AlertKind.CONFLICT, key, ("blue", "red"), AlertState.RAISED, T0 + 60,
            T0 + 90, None, encounter(state("blue-1", "blue", 37.15, 36.20, T0 + 90),
                                     state("red-1", "red", 37.25, 36.21, T0 + 90))), T0 + 90)
        await commit_alert(repo, "cleared", Alert(
            "a-1", AlertKind.CONFLICT, key, ("blue", "red"), AlertState.CLEARED, T0 + 60,
            T0 + 150, T0 + 150, encounter(state("blue-1", "blue", 37.2, 36.25, T0 + 150),
                                          state("red-1", "red", 37.25, 36.30, T0 + 150))),
            T0 + 150)
        far = Alert("a-far", AlertKind.NONCONFORMANCE, ("nonconformance", "red-9", "op-palmyra"),
                    ("red",), AlertState.RAISED, T0 + 70, T0 + 70, None, Nonconformance(
                        state("red-9", "red", 38.4, 34.6, T0 + 70), "op-palmyra", "red"))
        await commit_alert(repo, "raised", far, T0 + 70)
        call = Message("m-1", "blue", "red", Urgency.DISTRESS, "turning north", "",
                       ("a-1",), T0 + 65)
        to_red = [Recipient("m-1", "red", escalate_at=T0 + 95)]
        await repo.insert_message(call, to_red)
        await record(evidence.message_sent(call, to_red))
        other = Message("m-2", "red", "blue", Urgency.ROUTINE, "unrelated", "", (), T0 + 66)
        to_blue = [Recipient("m-2", "blue", escalate_at=T0 + 666)]
        await repo.insert_message(other, to_blue)
        await record(evidence.message_sent(other, to_blue))
        await repo.mark_delivered("red", ["m-1"], T0 + 66)
        await record(evidence.message_delivered("m-1", "red", "blue", T0 + 66))
        escalated = Recipient("m-1", "red", T0 + 66, None, None, None, 1, T0 + 125)
        await repo.put_recipient(escalated)
        await record(evidence.message_escalated(escalated, "blue", T0 + 95))
        replied = Recipient("m-1", "red", T0 + 66, ReplyKind.WILL_COMPLY, "turning", T0 + 100,
                            1, None)
        await repo.put_recipient(replied)
        await record(evidence.message_replied(replied, "blue"))
        for batch in ([Track("blue", StateReport("blue-1", T0 + 59, 36.2, 37.1, 4000.0,
                                                 200.0, 90.0, 0.0), T0 + 59.5)],
                      [Track("red", StateReport("red-5", T0 + 61, 34.0, 38.0, 4000.0,
                                                200.0, 90.0, 0.0), T0 + 61.5)]):
            await repo.put_tracks(batch)
            await record(evidence.tracks_reported(batch))
        later = operation("op-later", "blue", ALEPPO, T0 + 900)
        await repo.insert_operation(later, operation_cells(later))
        await record(evidence.operation_changed(later, first=True))

    await store.transact(history)
    try:
        yield line
    finally:
        await store.close()


async def test_a_window_rebuilt_from_the_ledger_with_proofs(line) -> None:
    incident = await collect(line, T0, T0 + 600)
    assert {o["id"] for o in incident.operations} == {"op-aleppo", "op-palmyra"}  # ended: gone
    assert [c["id"] for c in incident.constraints] == ["k-aleppo"]
    assert [(a["id"], a["transition"]) for a in incident.alerts] == [
        ("a-1", "alert.raised"), ("a-1", "alert.updated"), ("a-1", "alert.cleared"),
        ("a-far", "alert.raised")]
    assert [m["id"] for m in incident.messages] == ["m-1", "m-2"]
    assert [t["kind"] for t in incident.traffic] == [
        "message.delivered", "message.escalated", "message.replied"]
    assert len(incident.tracks) == 2
    head = incident.head
    # op-later too: signed, though after the window; each alert transition is a leaf per
    # reader view (a-1: blue's, red's, the observers'; a-far: red's, the observers')
    assert head.tree_size == 27
    for leaf in incident.leaves:  # each entry is in the signed tree
        digest = hashlib.sha256(b"\x00" + rfc8785.dumps(leaf["entry"])).digest()
        assert digest.hex() == leaf["leaf_hash"]
        verify_inclusion(digest, leaf["index"], head.tree_size,
                         [bytes.fromhex(p) for p in leaf["inclusion_proof"]], head.root_hash)
    assert "op-later" not in str(incident.to_json())


async def test_an_area_keeps_what_lies_in_it_and_what_refers_to_that(line) -> None:
    area = {"type": "Circle", "center": list(ALEPPO), "radius_m": 40_000}
    incident = await collect(line, T0, T0 + 600, area)
    assert [o["id"] for o in incident.operations] == ["op-aleppo"]
    assert {a["id"] for a in incident.alerts} == {"a-1"}
    assert [m["id"] for m in incident.messages] == ["m-1"]  # it refers to the alert
    assert [t["aircraft"] for t in incident.tracks] == [["blue-1"]]
    with pytest.raises(ValidationFailed):
        await collect(line, T0, T0 + 600, {"type": "Point", "coordinates": [0, 0]})
    with pytest.raises(ValidationFailed):
        await collect(line, T0 + 600, T0)


async def test_the_charts_are_drawn(line, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the incident extra (matplotlib) is not installed")
    from deconfliction.cli.incident_plots import situation_map, timeline

    area = {"type": "Circle", "center": list(ALEPPO), "radius_m": 40_000}
    incident = (await collect(line, T0, T0 + 600, area)).to_json()
    for draw, name in ((timeline, "timeline.png"), (situation_map, "map.png")):
        draw(incident, tmp_path / name)
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
