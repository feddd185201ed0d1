"""What the ledger records of each accepted change: the drafts of its leaves.

Recording is policy, so it lives here: which kind of change a write is, what its entry's body
keeps, who may read it (``parties``). A use case builds the drafts of what it changed and
appends them in its own unit of work with one call (``repo.append_leaves``); the appended
leaves are its receipts. The store only numbers and stores them.

Bodies are JSON data built from the model objects. Times are RFC 3339 UTC; footprints GeoJSON
(RFC 7946, with the line's ``Circle``); every field of the record is kept, private ones too
(need-to-know decides who reads an entry, not what it holds). The bytes of each kind are fixed:
ledgers written before must keep verifying, so a body changes only under a new kind.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from deconfliction.engine.ledger_entry import (
    SALT_BYTES,
    TRACK_FIELDS,
    entry_bytes,
    track_rows_digest,
)
from deconfliction.engine.merkle import leaf_hash
from deconfliction.model.constraint import Constraint, ConstraintState
from deconfliction.model.ledger import PUBLIC, Leaf, LeafDraft
from deconfliction.model.link import LinkTest, PartyLink
from deconfliction.model.message import Message, Recipient
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party
from deconfliction.model.time import rfc3339
from deconfliction.model.track import Track
from deconfliction.model.volume import Volume, footprint_to_geojson
from deconfliction.service.access import Kind, entry_readers

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    """What a write returns: its result and the ledger leaf recording it, the write's receipt
    (None when the write changed nothing the ledger records)."""

    value: T
    receipt: Leaf | None


def draft(kind: str, parties: Iterable[str], body: dict[str, Any], at: float) -> LeafDraft:
    """The leaf recording a change of ``kind`` made at ``at``, readable by ``parties`` (and
    observers): its canonical entry with a fresh salt (`SALT_BYTES` from the system's CSPRNG,
    so the hash of an entry with little in it cannot be confirmed by guessing) and its hash."""
    names = tuple(sorted(set(parties)))
    entry = entry_bytes(kind, at, names, body, secrets.token_hex(SALT_BYTES))
    return LeafDraft(at, kind, names, entry, leaf_hash(entry))


# bodies -------------------------------------------------------------------------------------

def _when(t: float | None) -> str | None:
    return None if t is None else rfc3339(t)


def _volumes(volumes: Sequence[Volume]) -> list[dict[str, Any]]:
    return [{"footprint": footprint_to_geojson(v.footprint),
             "altitude_lower_m": v.altitude_lower_m, "altitude_upper_m": v.altitude_upper_m,
             "time_start": rfc3339(v.time_start), "time_end": rfc3339(v.time_end)}
            for v in volumes]


def operation_body(o: Operation) -> dict[str, Any]:
    return {"id": o.id, "owner": o.owner, "state": o.state.value, "priority": o.priority,
            "ovn": o.ovn, "version": o.version, "short_notice": o.short_notice,
            "callsigns": list(o.callsigns), "notes": o.notes, "volumes": _volumes(o.volumes),
            "created_at": rfc3339(o.created_at), "updated_at": rfc3339(o.updated_at)}


def constraint_body(k: Constraint) -> dict[str, Any]:
    return {"id": k.id, "authority": k.authority, "kind": k.kind.value, "name": k.name,
            "state": k.state.value, "ovn": k.ovn, "version": k.version,
            "applies_to": "all" if k.applies_to is None else list(k.applies_to),
            "exempt": list(k.exempt), "volumes": _volumes(k.volumes),
            "created_at": rfc3339(k.created_at), "updated_at": rfc3339(k.updated_at)}


_TRACK_ROW = attrgetter(*TRACK_FIELDS)  # a state report as a row in `TRACK_FIELDS`' order


def tracks_body(tracks: Sequence[Track]) -> dict[str, Any]:
    """A digest of the batch, not every report: count, aircraft and the SHA-256 of the
    reports' canonical JSON (`engine.ledger_entry.track_digest`), which the reporting party
    can recompute from what it sent."""
    rows = [_TRACK_ROW(t.state) for t in tracks]
    return {"count": len(tracks), "aircraft": sorted(row[0] for row in rows),
            "reports_sha256": track_rows_digest(rows),
            "received_at": rfc3339(max(t.received_at for t in tracks))}


def message_body(m: Message, recipients: Sequence[Recipient]) -> dict[str, Any]:
    return {"id": m.id, "from": m.sender, "to": m.to, "urgency": m.urgency.value,
            "subject": m.subject, "body": m.body, "refs": list(m.refs), "time": rfc3339(m.time),
            "recipients": sorted(r.party for r in recipients)}


def delivered_body(message_id: str, party: str, at: float) -> dict[str, Any]:
    return {"message_id": message_id, "party": party, "delivered_at": rfc3339(at)}


def replied_body(r: Recipient) -> dict[str, Any]:
    return {"message_id": r.message_id, "party": r.party,
            "reply": r.reply.value if r.reply else None, "text": r.reply_text,
            "replied_at": _when(r.replied_at), "delivered_at": _when(r.delivered_at)}


def escalated_body(r: Recipient, due_at: float) -> dict[str, Any]:
    return {"message_id": r.message_id, "party": r.party, "escalation": r.escalations,
            "due_at": rfc3339(due_at), "next_at": _when(r.escalate_at)}


def status_body(link: PartyLink) -> dict[str, Any]:
    return {"party": link.party, "status": link.status.value, "since": _when(link.status_at)}


def link_test_body(test: LinkTest) -> dict[str, Any]:
    return {"id": test.id, "sender": test.sender, "time": rfc3339(test.time)}


def link_ack_body(test_id: str, party: str, at: float) -> dict[str, Any]:
    return {"test_id": test_id, "party": party, "acked_at": rfc3339(at)}


def party_body(p: Party) -> dict[str, Any]:
    return {"name": p.name, "role": p.role.value, "created_at": rfc3339(p.created_at)}



# the leaves of each kind of change, with who may read them --------------------------------
# Readers come from the access policy (`access.entry_readers`: a record's owner and the parties
# it concerns, or `PUBLIC` when every party reads such a record in full); parties and link
# tests, which every party sees on the line, are `PUBLIC`. Observers read every entry.

def party_added(p: Party) -> LeafDraft:
    return draft("party.added", [PUBLIC], party_body(p), p.created_at)


def party_revoked(name: str, at: float) -> LeafDraft:
    return draft("party.revoked", [PUBLIC], {"name": name, "revoked_at": rfc3339(at)}, at)


def operation_changed(o: Operation, *, first: bool) -> LeafDraft:
    """An operation declared (``first``), replaced, its state changed, or ended."""
    kind = ("operation.declared" if first else "operation.ended"
            if o.state is OperationState.ENDED else "operation.updated")
    return draft(kind, entry_readers(Kind.OPERATION, owner=o.owner), operation_body(o),
                 o.updated_at)


def constraint_changed(k: Constraint, *, first: bool) -> LeafDraft:
    """A constraint published (``first``), replaced or withdrawn."""
    kind = ("constraint.published" if first else "constraint.updated"
            if k.state is ConstraintState.ACTIVE else "constraint.withdrawn")
    return draft(kind, entry_readers(Kind.CONSTRAINT, owner=k.authority), constraint_body(k),
                 k.updated_at)


def tracks_reported(tracks: Sequence[Track]) -> LeafDraft:
    """A batch of accepted state reports (not empty), readable by the parties reporting."""
    return draft("tracks.reported", entry_readers(Kind.TRACK, concerned={t.party for t in tracks}),
                 tracks_body(tracks), max(t.received_at for t in tracks))


def message_sent(m: Message, recipients: Sequence[Recipient]) -> LeafDraft:
    readers = entry_readers(Kind.MESSAGE, owner=m.sender, concerned=[r.party for r in recipients])
    return draft("message.sent", readers, message_body(m, recipients), m.time)


def message_delivered(message_id: str, party: str, sender: str, at: float) -> LeafDraft:
    """The first delivery of a message to ``party``: readable by it and the sender."""
    return draft("message.delivered", entry_readers(Kind.RECEIPT, owner=party, concerned=[sender]),
                 delivered_body(message_id, party, at), at)


def message_replied(r: Recipient, sender: str) -> LeafDraft:
    assert r.replied_at is not None
    return draft("message.replied", entry_readers(Kind.REPLY, owner=r.party, concerned=[sender]),
                 replied_body(r), r.replied_at)


def message_escalated(r: Recipient, sender: str, due_at: float) -> LeafDraft:
    """A recipient escalated (``r`` after the escalation) at the deadline ``due_at``."""
    readers = entry_readers(Kind.ESCALATION, owner=r.party, concerned=[sender])
    return draft("message.escalated", readers, escalated_body(r, due_at), due_at)


def party_status(link: PartyLink) -> LeafDraft:
    """A party's declared status (``link.status_at`` set)."""
    assert link.status_at is not None
    return draft("party.status", entry_readers(Kind.LINK_STATUS, owner=link.party),
                 status_body(link), link.status_at)


def link_test_sent(test: LinkTest) -> LeafDraft:
    return draft("line.test", [PUBLIC], link_test_body(test), test.time)


def link_test_acked(test_id: str, party: str, at: float) -> LeafDraft:
    return draft("line.test.ack", [PUBLIC], link_ack_body(test_id, party, at), at)
