"""The access policy (service/access.py): its table, read kind by kind and reader by reader, and
the alert views it makes — a party's own aircraft in full, any other only as its state."""

from __future__ import annotations

import json

import pytest

from deconfliction.model.alert import (
    AircraftSide,
    AircraftState,
    Alert,
    AlertKind,
    AlertState,
    ConstraintRef,
    Encounter,
    EncounterFigures,
    Incursion,
    Nonconformance,
    details_from_json,
    details_to_json,
)
from deconfliction.model.ledger import PUBLIC, Leaf
from deconfliction.model.message import Message, Recipient, ReplyKind, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.service import access
from deconfliction.service.access import FIELDS, Kind, Relation

T0 = 1_800_000_000.0
IDENTITY = {"aircraft_id", "callsign", "icao24", "party"}

BLUE = AircraftSide("blue", "hawk-7", "HAWK 07", "a1b2c3",
                    AircraftState(T0, 36.2, 37.0, 7600.0, 230.0, 90.0, 0.0))
RED = AircraftSide("red", "kite-3", "KITE 03", "d4e5f6",
                   AircraftState(T0, 36.2, 37.2, 7610.0, 230.0, 270.0, -1.5))
ENCOUNTER = Encounter((BLUE, RED), EncounterFigures(10.0, 50.0, 30.0, 120.0, 10.0, False),
                      "en-route")
INCURSION = Incursion(RED, ConstraintRef("c-1", "Aleppo", "no_fly", "un"), False, 42.0)
NONCONFORMANCE = Nonconformance(BLUE, "op-1", "blue")


def party(name: str, role: Role = Role.OPERATOR) -> Party:
    return Party(name, role, T0)


def alert(details, kind: AlertKind, parties: tuple[str, ...]) -> Alert:
    key = (kind.value, *(s.aircraft_id for s in details.sides))
    return Alert("alert-1", kind, key, parties, AlertState.RAISED, T0, T0, None, details)


# --- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_a_rule_for_every_reader(kind: Kind) -> None:
    assert set(FIELDS[kind]) == set(Relation)
    observer = FIELDS[kind][Relation.OBSERVER]
    for relation, fields in FIELDS[kind].items():
        assert fields <= observer, f"{relation} of {kind} reads more than an observer"
        assert "secret" not in fields and "token" not in fields


@pytest.mark.parametrize("relation", [r for r in Relation if r is not Relation.OBSERVER])
def test_nobody_but_observers_and_the_owner_reads_private_fields(relation: Relation) -> None:
    if relation is not Relation.OWNER:
        assert not {"notes", "callsigns"} & FIELDS[Kind.OPERATION][relation]
        for kind in (Kind.AIRCRAFT, Kind.TRACK, Kind.WEBHOOK):
            assert FIELDS[kind][relation] == frozenset()
        assert not IDENTITY & FIELDS[Kind.ALERT_AIRCRAFT][relation]
    assert not {"key", "parties"} & FIELDS[Kind.ALERT][relation]  # they name the others


def test_who_is_who() -> None:
    assert access.relation_to(party("blue"), owner="blue") is Relation.OWNER
    assert access.relation_to(party("red"), owner="blue") is Relation.OTHER_OPERATOR
    assert access.relation_to(party("un", Role.AUTHORITY), owner="blue") is Relation.AUTHORITY
    assert access.relation_to(party("un", Role.AUTHORITY), concerned=["un"]) is (
        Relation.CONCERNED)
    assert access.relation_to(party("watch", Role.OBSERVER), owner="blue") is Relation.OBSERVER
    assert access.cut(Kind.OPERATION, Relation.OTHER_OPERATOR,
                      {"id": "op-1", "notes": "secret plan", "owner": "blue"}) == {
        "id": "op-1", "owner": "blue"}


# --- typed details and their JSON --------------------------------------------------------


@pytest.mark.parametrize("kind, details", [
    (AlertKind.CONFLICT, ENCOUNTER), (AlertKind.CONSTRAINT_INCURSION, INCURSION),
    (AlertKind.NONCONFORMANCE, NONCONFORMANCE)])
def test_details_survive_their_json(kind, details) -> None:
    data = json.loads(json.dumps(details_to_json(details)))
    assert details_from_json(kind, data) == details


def test_rows_written_before_typed_details_still_read() -> None:
    old = {"aircraft": [{"aircraft_id": "hawk-7", "party": "blue", "callsign": None,
                         "state": {"time": "2027-01-15T08:00:00Z", "lat": 36.2, "lon": 37.0,
                                   "altitude_m": 7600.0, "ground_speed_mps": 230.0,
                                   "track_deg": 90.0, "vertical_rate_mps": 0.0}}],
           "operation_id": "op-1", "operation_owner": "blue"}
    read = details_from_json(AlertKind.NONCONFORMANCE, old)
    assert isinstance(read, Nonconformance) and read.aircraft.icao24 is None
    assert read.aircraft.state.time == 1_800_000_000.0


# --- alert views -------------------------------------------------------------------------


def _identity_of(side: AircraftSide) -> list[str]:
    return [side.aircraft_id, side.callsign or "", side.icao24 or ""]


def test_a_party_sees_its_own_aircraft_in_full_and_the_other_as_a_state() -> None:
    a = alert(ENCOUNTER, AlertKind.CONFLICT, ("blue", "red"))
    for me, mine, theirs in (("blue", BLUE, RED), ("red", RED, BLUE)):
        view = access.alert_view(a, party(me))
        assert view is not None
        own = [x for x in view["aircraft"] if x["own"]]
        other = [x for x in view["aircraft"] if not x["own"]]
        assert own == [{"own": True, "aircraft_id": mine.aircraft_id, "party": me,
                        "callsign": mine.callsign, "icao24": mine.icao24,
                        "state": own[0]["state"]}]
        assert set(other[0]) == {"own", "state"}
        assert other[0]["state"]["lat"] == theirs.state.lat
        text = json.dumps(view)
        for secret in _identity_of(theirs) + [f'"{theirs.party}"']:
            assert secret not in text, f"{me} learns {secret}"
        assert view["encounter"]["dcpa_m"] == 120.0 and view["profile"] == "en-route"


def test_an_authority_sees_an_incursion_without_identity() -> None:
    a = alert(INCURSION, AlertKind.CONSTRAINT_INCURSION, ("red", "un"))
    view = access.alert_view(a, party("un", Role.AUTHORITY))
    assert view is not None
    assert view["aircraft"] == [{"own": False, "state": view["aircraft"][0]["state"]}]
    assert view["constraint"]["id"] == "c-1" and view["incursion"]["time_to_entry_s"] == 42.0
    text = json.dumps(view)
    assert not [s for s in _identity_of(RED) + ['"red"'] if s in text]


def test_observers_see_everything_and_others_nothing() -> None:
    a = alert(ENCOUNTER, AlertKind.CONFLICT, ("blue", "red"))
    view = access.alert_view(a, party("watch", Role.OBSERVER))
    assert view is not None
    assert [x["aircraft_id"] for x in view["aircraft"]] == ["hawk-7", "kite-3"]
    assert [x["icao24"] for x in view["aircraft"]] == ["a1b2c3", "d4e5f6"]
    assert access.alert_view(a, party("green")) is None
    assert access.alert_view(a, party("un", Role.AUTHORITY)) is None


def test_alert_entries_one_per_reader_view() -> None:
    a = alert(ENCOUNTER, AlertKind.CONFLICT, ("blue", "red"))
    entries = access.alert_entries(a)
    assert [parties for parties, _ in entries] == [("blue",), ("red",), ()]
    (_, blue), (_, red), (_, truth) = entries
    assert blue["view"] == access.PARTY_VIEW and truth["view"] == access.OBSERVERS_VIEW
    assert blue["key"] == ["alert-1", "hawk-7"] and red["key"] == ["alert-1", "kite-3"]
    assert "kite-3" not in json.dumps(blue) and "hawk-7" not in json.dumps(red)
    assert '"red"' not in json.dumps(blue) and '"blue"' not in json.dumps(red)
    assert truth["parties"] == ["blue", "red"] and truth["key"] == list(a.key)
    assert truth["details"] == details_to_json(ENCOUNTER)


# --- ledger entries and the other kinds --------------------------------------------------


def leaf(kind: str, parties: tuple[str, ...], body: dict) -> Leaf:
    entry = json.dumps({"kind": kind, "parties": list(parties), "body": body}).encode()
    return Leaf(7, T0, kind, parties, entry, b"\x01" * 32)


def test_who_reads_which_ledger_entry() -> None:
    own = leaf("operation.declared", ("blue",), {"notes": "secret plan"})
    public = leaf("constraint.published", (PUBLIC,), {"id": "c-1"})
    truth = leaf("alert.raised", (), {"view": access.OBSERVERS_VIEW})
    mine = leaf("alert.raised", ("blue",), {"view": access.PARTY_VIEW})
    old = leaf("alert.raised", ("blue", "red"), {"details": {}})
    old_single = leaf("alert.raised", ("blue",), {"details": {}})
    un, watch = party("un", Role.AUTHORITY), party("watch", Role.OBSERVER)
    table = {  # reader: what it reads in full of (own, public, truth, mine, old, old_single)
        "blue": (True, True, False, True, False, False),
        "red": (False, True, False, False, False, False),
        "un": (False, True, False, False, False, False),
        "watch": (True, True, True, True, True, True),
    }
    readers = {"blue": party("blue"), "red": party("red"), "un": un, "watch": watch}
    for name, expected in table.items():
        got = tuple(access.leaf_readable(x, readers[name])
                    for x in (own, public, truth, mine, old, old_single))
        assert got == expected, name
        view = access.entry_view(own, readers[name])
        assert ("entry" in view) == expected[0] and view["leaf_hash"] == "01" * 32


def test_operations_private_fields_go_to_the_owner_only() -> None:
    from deconfliction.api.views import operation_view
    o = Operation(id="op-1", owner="blue", volumes=(), priority=5,
                  state=OperationState.ACCEPTED, ovn="v1", version=1, short_notice=False,
                  callsigns=("HAWK 07",), notes="secret plan", created_at=T0, updated_at=T0)
    for reader, full in ((party("blue"), True), (party("red"), False),
                         (party("un", Role.AUTHORITY), False),
                         (party("watch", Role.OBSERVER), True)):
        view = operation_view(o, reader)
        assert ("notes" in view and "callsigns" in view) == full, reader.name
        assert view["owner"] == "blue" and view["ovn"] == "v1"


def test_a_fellow_addressee_never_reads_another_recipients_reply() -> None:
    from deconfliction.api.views import message_view
    m = Message("m-1", "mission", "all", Urgency.URGENT, "Aleppo closed", "from 0000Z", (), T0)
    rs = [Recipient("m-1", "blue", T0, ReplyKind.WILL_COMPLY, "moving to FL220", T0, 0, None),
          Recipient("m-1", "red", T0, None, None, None, 1, T0 + 60)]
    for reader, sees in ((party("mission", Role.AUTHORITY), {"blue", "red"}),
                         (party("blue"), {"blue"}), (party("red"), {"red"}),
                         (party("watch", Role.OBSERVER), {"blue", "red"})):
        view = message_view(m, rs, reader)
        assert view["subject"] == "Aleppo closed"
        full = {r["party"] for r in view["recipients"] if "status" in r}
        assert full == sees, reader.name
        assert ("moving to FL220" in json.dumps(view)) == ("blue" in sees), reader.name
    assert message_view(m, rs, party("green")) == {}


def test_doctests() -> None:
    import doctest

    from deconfliction.model import alert as alert_module
    for module in (access, alert_module):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_the_ledger_names_the_readers_the_policy_gives() -> None:
    """Every kind evidence records names, as its entry's readers, those the policy gives."""
    from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
    from deconfliction.model.link import PartyLink, PartyStatus
    from deconfliction.model.track import StateReport, Track
    from deconfliction.service import evidence

    o = Operation(id="op-1", owner="blue", volumes=(), priority=5,
                  state=OperationState.ACCEPTED, ovn="v1", version=1, short_notice=False,
                  callsigns=(), notes="", created_at=T0, updated_at=T0)
    k = Constraint("c-1", "un", ConstraintKind.NO_FLY, "Aleppo", (), None, (),
                   ConstraintState.ACTIVE, "c1", 1, T0, T0)
    m = Message("m-1", "mission", "all", Urgency.URGENT, "s", "b", (), T0)
    rs = [Recipient("m-1", "blue"), Recipient("m-1", "red")]
    replied = Recipient("m-1", "blue", T0, ReplyKind.WILL_COMPLY, "ok", T0, 0, None)
    track = Track("blue", StateReport("hawk-7", T0, 36.2, 37.0, 7600.0, 230.0, 90.0, 0.0), T0)
    cases = [
        (evidence.operation_changed(o, first=True), Kind.OPERATION, "blue", ()),
        (evidence.constraint_changed(k, first=True), Kind.CONSTRAINT, "un", ()),
        (evidence.tracks_reported([track]), Kind.TRACK, "blue", ()),
        (evidence.message_sent(m, rs), Kind.MESSAGE, "mission", ("blue", "red")),
        (evidence.message_delivered("m-1", "blue", "mission", T0), Kind.RECEIPT, "blue",
         ("mission",)),
        (evidence.message_replied(replied, "mission"), Kind.REPLY, "blue", ("mission",)),
        (evidence.message_escalated(replied, "mission", T0), Kind.ESCALATION, "blue",
         ("mission",)),
        (evidence.party_status(PartyLink("red", PartyStatus.TALKS_SUSPENDED, T0, ())),
         Kind.LINK_STATUS, "red", ()),
    ]
    for drafted, kind, owner, concerned in cases:
        assert drafted.parties == access.entry_readers(kind, owner=owner, concerned=concerned), (
            drafted.kind)


def test_an_escalation_contact_learns_who_must_act_not_what_was_said() -> None:
    notice = {"message_id": "m-1", "party": "red", "from": "blue", "urgency": "distress",
              "subject": "turn north now", "sent": "…", "escalation": 1, "reply": None}
    spare = party("spare")
    relation = access.recipient_relation(spare, "blue", "red")
    assert relation is Relation.OTHER_OPERATOR
    told = access.cut(Kind.ESCALATION_NOTICE, relation, notice)
    assert told == {k: v for k, v in notice.items() if k != "subject"}
    for reader in (party("blue"), party("red"), party("watch", Role.OBSERVER)):
        relation = access.recipient_relation(reader, "blue", "red")
        assert access.cut(Kind.ESCALATION_NOTICE, relation, notice) == notice
