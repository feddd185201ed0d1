"""The access policy: who may read which fields of which record. Nothing else redacts.

Every reader stands in one `Relation` to a record: its owner, a party concerned by it (a party
an alert concerns, the addressee of a message), another operator, an authority with no part in
it, or an observer. `FIELDS` says, for every record `Kind` and every relation, the fields that
reader may read — as data, so a test can iterate over it and an authorization test can be
generated from it. The functions below apply it: API views, the event stream and webhooks (event
data), ledger entries (GET /v1/ledger/entries), exports and incident packages all pass through
them.

The rules (DESIGN.md, "Access and evidence"):

* observers read everything;
* a party an alert concerns sees its own aircraft in full and any other aircraft only as its
  state (position, altitude, velocity) — never its id, callsign, ICAO address or party; an
  authority sees an incursion into its constraint the same way, without identity;
* an operation's public part (where, when, priority, state, version) is every party's; its
  callsigns, notes and times are its owner's;
* aircraft, tracks, messages and their receipts, replies and escalations, webhooks are their
  owner's (and a message its addressees'); a webhook's secret is nobody's;
* a ledger entry is read in full by the parties it names (every party when it names `PUBLIC`);
  an alert's entries are one per reader view (`alert_entries`), and an alert entry written
  before views existed (one entry naming several parties) is read in full by observers only.

Examples
--------
>>> sorted(FIELDS[Kind.ALERT_AIRCRAFT][Relation.CONCERNED])
['own', 'state']
>>> "notes" in FIELDS[Kind.OPERATION][Relation.OTHER_OPERATOR]
False
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any

from deconfliction.model.alert import (
    Alert,
    AlertDetails,
    details_to_json,
    side_to_json,
    state_to_json,
)
from deconfliction.model.ledger import PUBLIC, Leaf
from deconfliction.model.party import Party, Role
from deconfliction.model.time import rfc3339

__all__ = [
    "FIELDS",
    "OBSERVERS_VIEW",
    "PARTY_VIEW",
    "Kind",
    "Relation",
    "alert_details",
    "alert_entries",
    "alert_view",
    "cut",
    "entry_readers",
    "entry_view",
    "in_full",
    "leaf_readable",
    "leaf_relation",
    "readable",
    "recipient_relation",
    "relation_to",
]


class Kind(StrEnum):
    """The kinds of record the line hands out."""

    OPERATION = "operation"
    CONSTRAINT = "constraint"
    AIRCRAFT = "aircraft"  # a registry entry
    TRACK = "track"
    ALERT = "alert"  # the alert and its details, aircraft aside
    ALERT_AIRCRAFT = "alert_aircraft"  # one aircraft's side of an alert
    MESSAGE = "message"
    RECEIPT = "receipt"  # a message's delivery to one recipient
    REPLY = "reply"
    ESCALATION = "escalation"
    ESCALATION_NOTICE = "escalation_notice"  # the event telling who must act on an escalation
    WEBHOOK = "webhook"
    LINK_STATUS = "link_status"
    LEDGER_ENTRY = "ledger_entry"


class Relation(StrEnum):
    """How a reader stands to a record."""

    OWNER = "owner"  # its operation, aircraft, message sent, webhook; its own side of an alert
    CONCERNED = "concerned"  # an alert concerns it; a message is addressed to it
    OTHER_OPERATOR = "other_operator"  # an operator with no part in it
    AUTHORITY = "authority"  # an authority with no part in it
    OBSERVER = "observer"


_OPERATION_PUBLIC = frozenset({"id", "owner", "volumes", "priority", "state", "ovn",
                               "short_notice"})
_OPERATION_ALL = _OPERATION_PUBLIC | {"version", "callsigns", "notes", "created_at",
                                      "updated_at"}
_CONSTRAINT = frozenset({"id", "authority", "kind", "name", "volumes", "applies_to", "exempt",
                         "state", "ovn", "version", "created_at", "updated_at"})
_AIRCRAFT = frozenset({"id", "party", "icao24", "callsign", "operation_id"})
_TRACK = frozenset({"aircraft_id", "party", "coasting", "time", "lat", "lon", "altitude_m",
                    "ground_speed_mps", "track_deg", "vertical_rate_mps"})
_ALERT = frozenset({"id", "kind", "state", "raised_at", "updated_at", "cleared_at",
                    "aircraft", "encounter", "profile", "constraint", "incursion",
                    "operation_id", "operation_owner"})
_ALERT_TRUTH = _ALERT | {"key", "parties"}  # whom it concerns and the aircraft ids it is about
_SIDE = frozenset({"own", "aircraft_id", "party", "callsign", "icao24", "state"})
_SIDE_ANONYMOUS = frozenset({"own", "state"})  # position, altitude, velocity: never identity
_MESSAGE = frozenset({"id", "from", "to", "urgency", "subject", "body", "refs", "time",
                      "recipients"})
# a recipient's part of a thread (API names, and the ledger bodies' where they differ)
_RECEIPT = frozenset({"message_id", "party", "status", "delivered_at"})
_RECEIPT_ADDRESSEE = frozenset({"party"})  # a fellow addressee: who else it went to (``to``)
_REPLY = frozenset({"message_id", "party", "reply", "reply_text", "text", "replied_at",
                    "delivered_at"})
_ESCALATION = frozenset({"message_id", "party", "escalations", "next_escalation_at",
                         "escalation", "due_at", "next_at"})
_NOTICE = frozenset({"message_id", "party", "from", "urgency", "subject", "sent", "escalation",
                     "reply"})
_NOTICE_CONTACT = _NOTICE - {"subject"}  # a recipient's escalation contact: who, not what
_WEBHOOK = frozenset({"url", "created_at", "updated_at", "delivered_seq", "delivered_at",
                      "pending", "failures", "last_error", "last_attempt_at",
                      "next_attempt_at"})  # never the secret, not even to its owner
_LINK_STATUS = frozenset({"party", "status", "status_since", "contacts"})
_ENTRY_FULL = frozenset({"index", "leaf_hash", "entry"})
_ENTRY_HASH = frozenset({"index", "leaf_hash"})  # enough to rebuild and check the tree
_NOTHING: frozenset[str] = frozenset()


def _row(owner: frozenset[str], concerned: frozenset[str], other: frozenset[str],
         authority: frozenset[str], observer: frozenset[str]) -> dict[Relation, frozenset[str]]:
    return {Relation.OWNER: owner, Relation.CONCERNED: concerned,
            Relation.OTHER_OPERATOR: other, Relation.AUTHORITY: authority,
            Relation.OBSERVER: observer}


FIELDS: Mapping[Kind, Mapping[Relation, frozenset[str]]] = {
    #                          owner            concerned        other op.       authority
    #                          observer
    Kind.OPERATION: _row(_OPERATION_ALL, _OPERATION_PUBLIC, _OPERATION_PUBLIC,
                         _OPERATION_PUBLIC, _OPERATION_ALL),
    Kind.CONSTRAINT: _row(_CONSTRAINT, _CONSTRAINT, _CONSTRAINT, _CONSTRAINT, _CONSTRAINT),
    Kind.AIRCRAFT: _row(_AIRCRAFT, _NOTHING, _NOTHING, _NOTHING, _AIRCRAFT),
    Kind.TRACK: _row(_TRACK, _NOTHING, _NOTHING, _NOTHING, _TRACK),
    Kind.ALERT: _row(_ALERT, _ALERT, _NOTHING, _NOTHING, _ALERT_TRUTH),
    Kind.ALERT_AIRCRAFT: _row(_SIDE, _SIDE_ANONYMOUS, _NOTHING, _NOTHING, _SIDE),
    Kind.MESSAGE: _row(_MESSAGE, _MESSAGE, _NOTHING, _NOTHING, _MESSAGE),
    Kind.RECEIPT: _row(_RECEIPT, _RECEIPT, _RECEIPT_ADDRESSEE, _RECEIPT_ADDRESSEE, _RECEIPT),
    Kind.REPLY: _row(_REPLY, _REPLY, _NOTHING, _NOTHING, _REPLY),
    Kind.ESCALATION: _row(_ESCALATION, _ESCALATION, _NOTHING, _NOTHING, _ESCALATION),
    Kind.ESCALATION_NOTICE: _row(_NOTICE, _NOTICE, _NOTICE_CONTACT, _NOTICE_CONTACT, _NOTICE),
    Kind.WEBHOOK: _row(_WEBHOOK, _NOTHING, _NOTHING, _NOTHING, _WEBHOOK),
    Kind.LINK_STATUS: _row(_LINK_STATUS, _LINK_STATUS, _LINK_STATUS, _LINK_STATUS,
                           _LINK_STATUS),
    Kind.LEDGER_ENTRY: _row(_ENTRY_FULL, _ENTRY_FULL, _ENTRY_HASH, _ENTRY_HASH, _ENTRY_FULL),
}
"""For each record kind and each relation of its reader, the fields the reader may read."""


def relation_to(reader: Party, *, owner: str | None = None,
                concerned: Collection[str] = ()) -> Relation:
    """How ``reader`` stands to a record owned by ``owner`` that concerns ``concerned``."""
    if reader.sees_everything:
        return Relation.OBSERVER
    if owner is not None and reader.name == owner:
        return Relation.OWNER
    if reader.name in concerned:
        return Relation.CONCERNED
    return Relation.AUTHORITY if reader.role is Role.AUTHORITY else Relation.OTHER_OPERATOR


def cut(kind: Kind | Iterable[Kind], relation: Relation,
        view: Mapping[str, Any]) -> dict[str, Any]:
    """``view`` (a record as JSON data) with only the fields ``relation`` may read of ``kind``
    (of any of several kinds, for a view that joins records: a recipient's status is its
    receipt, reply and escalations)."""
    if isinstance(kind, Kind):
        allowed = FIELDS[kind][relation]
    else:
        kinds = tuple(kind)
        allowed = _JOINED.get((kinds, relation)) or _JOINED.setdefault(
            (kinds, relation), frozenset().union(*(FIELDS[k][relation] for k in kinds)))
    return {k: v for k, v in view.items() if k in allowed}


_JOINED: dict[tuple[tuple[Kind, ...], Relation], frozenset[str]] = {}
"""`cut`'s field sets of joined kinds, made once (a thread's recipients are cut per message)."""


def readable(kind: Kind, relation: Relation) -> bool:
    """Whether a reader in ``relation`` to a record of ``kind`` may read any of it."""
    return bool(FIELDS[kind][relation])


def in_full(kind: Kind, relation: Relation) -> bool:
    """Whether ``relation`` reads every field an observer reads of ``kind``."""
    return FIELDS[kind][relation] == FIELDS[kind][Relation.OBSERVER]


def recipient_relation(reader: Party, sender: str, recipient: str) -> Relation:
    """How ``reader`` stands to ``recipient``'s part of a message from ``sender``: its owner
    (the recipient), concerned (the sender), a fellow addressee or nobody (no relation)."""
    if reader.sees_everything:
        return Relation.OBSERVER
    if reader.name == recipient:
        return Relation.OWNER
    if reader.name == sender:
        return Relation.CONCERNED
    return Relation.AUTHORITY if reader.role is Role.AUTHORITY else Relation.OTHER_OPERATOR


def entry_readers(kind: Kind, *, owner: str | None = None,
                  concerned: Iterable[str] = ()) -> tuple[str, ...]:
    """Who a ledger entry recording a record of ``kind`` names as its readers (observers read
    every entry): `PUBLIC` when every reader reads such a record in full, else its owner and
    the parties it concerns. (Alerts are recorded one entry per reader view instead:
    `alert_entries`.)

    >>> entry_readers(Kind.CONSTRAINT, owner="un")
    ('all',)
    >>> entry_readers(Kind.REPLY, owner="red", concerned=["blue"])
    ('blue', 'red')
    """
    if all(in_full(kind, relation) for relation in Relation):
        return (PUBLIC,)
    return tuple(sorted({*([] if owner is None else [owner]), *concerned}))


# --- alerts ----------------------------------------------------------------------------------

def alert_details(details: AlertDetails, reader: str | None) -> dict[str, Any]:
    """``details`` as JSON data for ``reader`` (a party's name; None for observers): its own
    aircraft in full, every other one as its state only.

    Parties' views carry ``own`` on each aircraft (the wire format of GET /v1/alerts).
    """
    data = details_to_json(details)
    if reader is None:
        return data
    aircraft = []
    for side in details.sides:
        if side.party == reader:
            shown = {**side_to_json(side), "own": True}
            aircraft.append(cut(Kind.ALERT_AIRCRAFT, Relation.OWNER, shown))
        else:
            shown = {"own": False, "state": state_to_json(side.state)}
            aircraft.append(cut(Kind.ALERT_AIRCRAFT, Relation.CONCERNED, shown))
    data["aircraft"] = aircraft
    return cut(Kind.ALERT, Relation.CONCERNED, data)


def alert_view(alert: Alert, reader: Party) -> dict[str, Any] | None:
    """An alert as ``reader`` may read it (None if it does not concern the reader)."""
    relation = relation_to(reader, concerned=alert.parties)
    if relation not in (Relation.CONCERNED, Relation.OBSERVER):
        return None
    observer = relation is Relation.OBSERVER
    header = {"id": alert.id, "kind": alert.kind.value, "state": alert.state.value,
              "raised_at": rfc3339(alert.raised_at), "updated_at": rfc3339(alert.updated_at),
              "cleared_at": None if alert.cleared_at is None else rfc3339(alert.cleared_at)}
    return {**header, **alert_details(alert.details, None if observer else reader.name)}


PARTY_VIEW = "party"
"""An alert entry's ``view`` when it is one party's view of the alert (its ``parties`` name
that party alone)."""

OBSERVERS_VIEW = "observers"
"""An alert entry's ``view`` when it is the whole truth (its ``parties`` are empty: no party
reads it in full, observers do)."""


def _times(alert: Alert) -> dict[str, Any]:
    return {"raised_at": rfc3339(alert.raised_at), "updated_at": rfc3339(alert.updated_at),
            "cleared_at": None if alert.cleared_at is None else rfc3339(alert.cleared_at)}


def alert_entries(alert: Alert) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The ledger entries recording one transition of ``alert``: ``(parties, body)`` pairs, one
    per reader view.

    Each party the alert concerns gets an entry naming it alone whose body is exactly its view:
    its own aircraft in full, every other one anonymous, and a key of the alert id and its own
    aircraft (the alert's key names the other aircraft). One more entry, naming no party, holds
    the whole truth for observers. So every party's export holds only what it was shown, each
    part proven by its own inclusion proof, and an observer's holds every alert in full.
    """
    entries: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for party in sorted(set(alert.parties)):
        own = [s.aircraft_id for s in alert.details.sides if s.party == party]
        entries.append(((party,), {
            "view": PARTY_VIEW, "id": alert.id, "kind": alert.kind.value,
            "key": [alert.id, *own], "state": alert.state.value, **_times(alert),
            "details": alert_details(alert.details, party)}))
    entries.append(((), {
        "view": OBSERVERS_VIEW, "id": alert.id, "kind": alert.kind.value,
        "key": list(alert.key), "state": alert.state.value, "parties": list(alert.parties),
        **_times(alert), "details": details_to_json(alert.details)}))
    return entries


# --- ledger entries --------------------------------------------------------------------------

def leaf_readable(leaf: Leaf, reader: Party) -> bool:
    """May ``reader`` read ``leaf``'s entry in full (else only its leaf hash)?

    An alert entry is read in full by a party only when it is that party's own view (named
    alone, ``view`` `PARTY_VIEW`); older alert entries, which named every party concerned and
    held every aircraft's identity, are observers' only.
    """
    if reader.sees_everything:
        return True
    if leaf.kind.startswith("alert."):
        if leaf.parties != (reader.name,):
            return False
        return bool(leaf.content().get("body", {}).get("view") == PARTY_VIEW)
    return PUBLIC in leaf.parties or reader.name in leaf.parties


def leaf_relation(leaf: Leaf, reader: Party) -> Relation:
    """How ``reader`` stands to a ledger entry (`Kind.LEDGER_ENTRY` of `FIELDS`)."""
    if reader.sees_everything:
        return Relation.OBSERVER
    if leaf_readable(leaf, reader):
        return Relation.CONCERNED if leaf.kind.startswith("alert.") else Relation.OWNER
    return Relation.AUTHORITY if reader.role is Role.AUTHORITY else Relation.OTHER_OPERATOR


def entry_view(leaf: Leaf, reader: Party) -> dict[str, Any]:
    """A ledger leaf as ``reader`` may read it: its index and hash always; its entry (the JSON
    the hash covers, canonicalised again by RFC 8785) only where the policy lets it."""
    view = {"index": leaf.index, "leaf_hash": leaf.leaf_hash.hex()}
    relation = leaf_relation(leaf, reader)
    if "entry" in FIELDS[Kind.LEDGER_ENTRY][relation]:
        view["entry"] = leaf.content()
    return view
