"""The store interface: narrow repositories combined into one, behind two entry points.

As the InterUSS DSS does: ``interact`` runs a unit of reads without a write transaction;
``transact`` runs a function atomically and runs it again on a serialization failure, so the
function must have no side effects outside the repository. Services own the transactions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from deconfliction.model.alert import Alert
from deconfliction.model.constraint import Constraint
from deconfliction.model.event import Event
from deconfliction.model.ledger import Leaf, LeafDraft, NodeId, SignedTreeHead, SigningKey
from deconfliction.model.link import LinkTest, PartyLink
from deconfliction.model.message import Message, Recipient
from deconfliction.model.operation import Operation
from deconfliction.model.party import Party
from deconfliction.model.track import Aircraft, Track
from deconfliction.model.volume import Volume
from deconfliction.model.webhook import Webhook

T = TypeVar("T")
CommitHook = Callable[[Sequence[Event]], None]


@dataclass(frozen=True, slots=True)
class IndexedVolume:
    """A stored volume and what it belongs to."""

    subject_kind: str  # "operation" or "constraint"
    subject_id: str
    ordinal: int
    volume: Volume


class PartyRepo(Protocol):
    async def add_party(self, party: Party, token_hash: str) -> None: ...
    async def party(self, name: str) -> Party | None: ...
    async def party_by_token(self, token_hash: str) -> Party | None: ...
    async def parties(self) -> list[Party]: ...
    async def revoke_party(self, name: str, at: float) -> bool: ...


class OperationRepo(Protocol):
    async def insert_operation(
        self, operation: Operation, cells: Sequence[Sequence[int]]
    ) -> None:
        """Store an operation, its volumes filed under ``cells`` (one key list per volume, in
        order; empty: not indexed — the service decides, `service.volume_index`)."""
        ...

    async def update_operation(
        self, operation: Operation, cells: Sequence[Sequence[int]]
    ) -> None: ...
    async def operation(self, operation_id: str) -> Operation | None: ...
    async def operations(
        self, *, ids: Sequence[str] | None = None, include_ended: bool = False,
        with_volumes: bool = True, after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Operation]:
        """Operations by id (or all); ``with_volumes=False`` leaves ``volumes`` empty, for
        callers that already hold them from the index. In (created_at, id) order, from just
        after the key ``after``, at most ``limit`` (`service.paging`)."""
        ...


class ConstraintRepo(Protocol):
    async def insert_constraint(
        self, constraint: Constraint, cells: Sequence[Sequence[int]]
    ) -> None: ...
    async def update_constraint(
        self, constraint: Constraint, cells: Sequence[Sequence[int]]
    ) -> None: ...
    async def constraint(self, constraint_id: str) -> Constraint | None: ...
    async def constraints(
        self, *, ids: Sequence[str] | None = None, include_withdrawn: bool = True,
        after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Constraint]:
        """In (created_at, id) order, from just after the key ``after``, at most ``limit``."""
        ...


class VolumeIndex(Protocol):
    async def volumes_near(
        self,
        cells: npt.NDArray[np.int64],
        *,
        time_start: float,
        time_end: float,
        altitude_lower_m: float,
        altitude_upper_m: float,
    ) -> list[IndexedVolume]:
        """Indexed volumes with a cell key in any of the inclusive ``(low, high)`` ranges
        (``engine.cells.search_cells``), overlapping the window and the band (open)."""
        ...

    async def all_indexed_volumes(self) -> list[IndexedVolume]:
        """Every indexed volume (for brute-force checks and benchmarks)."""
        ...

    async def versions_near(
        self,
        cells: npt.NDArray[np.int64],
        *,
        time_start: float,
        time_end: float,
        altitude_lower_m: float,
        altitude_upper_m: float,
    ) -> set[tuple[str, str, str]]:
        """``(subject_kind, subject_id, ovn)`` of what `volumes_near` would find there, read
        from the index and the records' versions only (no footprint is read)."""
        ...


class EventRepo(Protocol):
    async def append_event(
        self, party: str, kind: str, time: float, data: dict[str, Any]
    ) -> Event: ...
    async def events(self, party: str, *, after: int, limit: int) -> list[Event]: ...


class Store(Protocol):
    """A database: SQLite (embedded default) or PostgreSQL, chosen once at start-up."""

    backend: str

    async def interact(self, work: Callable[[Repository], Awaitable[T]]) -> T: ...
    async def transact(self, work: Callable[[Repository], Awaitable[T]]) -> T: ...
    async def lookup(self, work: Callable[[Repository], Awaitable[T]]) -> T:
        """A read of a few rows by key (a token, a name): like ``interact``, but a backend may
        run it on the calling thread when that costs less than a hop to a worker thread, and
        each statement on its own (no snapshot across statements)."""
        ...

    async def close(self) -> None: ...
    def pending_writes(self) -> int:
        """Write units queued for or holding the writer now (a gauge for ``/metrics``)."""
        ...
    def on_commit(self, hook: CommitHook) -> None:
        """Call ``hook`` with the events a transaction appended, in order, after it commits
        (in this process; other processes' writes are found by polling)."""
        ...


class TacticalRepo(Protocol):
    """The live picture: aircraft registry, latest tracks, alerts."""

    # an aircraft is (party, aircraft id): ids are each party's own
    async def put_aircraft(self, aircraft: Aircraft) -> None: ...
    async def aircraft(
        self, ids: Sequence[str] | None = None, *, party: str | None = None,
        after: Sequence[Any] | None = None, limit: int | None = None,
    ) -> list[Aircraft]:
        """In (id, party) order, from just after the key ``after``, at most ``limit``."""
        ...
    async def aircraft_by_icao24(self, icao24: Sequence[str]) -> list[Aircraft]: ...
    async def track_times(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], float]: ...
    async def put_tracks(self, tracks: Sequence[Track]) -> None: ...
    async def tracks(
        self, *, party: str | None = None, after: Sequence[Any] | None = None,
        limit: int | None = None,
    ) -> list[Track]:
        """In (aircraft id, party) order, from just after the key ``after``."""
        ...
    async def drop_tracks(self, keys: Sequence[tuple[str, str]]) -> None: ...
    async def put_alert(self, alert: Alert) -> None: ...
    async def alerts(
        self, *, party: str | None = None, active_only: bool = False, limit: int = 1000,
        after: Sequence[Any] | None = None,
    ) -> list[Alert]:
        """Newest first (raised_at descending, then id), from just after the key ``after``."""
        ...


class HotlineRepo(Protocol):
    """Messages and their recipients; each party's end of the line; link tests."""

    async def insert_message(self, message: Message, recipients: Sequence[Recipient]) -> None: ...
    async def message(self, message_id: str) -> Message | None: ...
    async def messages(
        self, *, party: str | None, limit: int, after: Sequence[Any] | None = None
    ) -> list[Message]:
        """Newest first (time descending, then id): those ``party`` sent or received
        (``None``: all), from just after the key ``after``."""
        ...

    async def recipients(self, message_ids: Sequence[str]) -> dict[str, list[Recipient]]: ...
    async def recipient(self, message_id: str, party: str) -> Recipient | None: ...
    async def put_recipient(self, recipient: Recipient) -> None: ...
    async def mark_delivered(
        self, party: str, message_ids: Sequence[str], at: float
    ) -> list[str]:
        """Record delivery of those not delivered yet; returns which those were."""
        ...

    async def due_recipients(self, now: float, limit: int) -> list[Recipient]:
        """Recipients whose escalation time has come, earliest first."""
        ...
    async def unanswered(self, sender: str, parties: Sequence[str]) -> dict[str, int]:
        """How many of ``sender``'s messages each of ``parties`` has not answered finally
        (those with an escalation time); parties with none are left out."""
        ...

    async def known_refs(self, ids: Sequence[str]) -> set[str]: ...
    async def party_links(self) -> dict[str, PartyLink]: ...
    async def put_party_link(self, link: PartyLink) -> None: ...
    async def insert_link_test(self, test: LinkTest) -> None: ...
    async def link_test(self, test_id: str) -> LinkTest | None: ...
    async def latest_link_test(self) -> LinkTest | None: ...
    async def add_link_ack(self, test_id: str, party: str, at: float) -> None: ...


class WebhookRepo(Protocol):
    """Each party's optional webhook and how far delivery to it has got."""

    async def webhook(self, party: str) -> Webhook | None: ...
    async def webhooks(self) -> list[Webhook]: ...
    async def put_webhook(self, webhook: Webhook) -> None: ...
    async def delete_webhook(self, party: str) -> bool: ...
    async def webhook_delivered(self, party: str, url: str, seq: int, at: float) -> bool:
        """Advance delivery to ``seq`` (never backwards; only while ``url`` is the target)."""
        ...

    async def webhook_failed(
        self, party: str, url: str, error: str, at: float, next_at: float
    ) -> None: ...
    async def last_seq(self, party: str) -> int:
        """The sequence number of the party's latest event (0: none yet)."""
        ...


class LedgerRepo(Protocol):
    """The ledger: leaves (appended by the service's use cases in their unit of work), the
    Merkle tree's nodes, signed heads and the signing key."""

    async def append_leaves(self, drafts: Sequence[LeafDraft]) -> list[Leaf]:
        """Append these leaves in this unit of work, in order, with the next indices; returns
        them as appended. Entries, readers and hashes are the caller's (``service.evidence``);
        the store numbers and stores them."""
        ...

    async def ledger_size(self) -> int: ...
    async def ledger_leaves(self, start: int, end: int) -> list[Leaf]: ...
    async def ledger_leaf_hashes(self, start: int, limit: int) -> list[tuple[int, bytes]]: ...
    async def ledger_nodes(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]: ...
    async def put_ledger_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None: ...
    async def ledger_signed_size(self) -> int: ...
    async def claim_ledger_head(self, signed_size: int, new_size: int) -> bool: ...
    async def put_ledger_head(self, head: SignedTreeHead) -> None: ...
    async def latest_ledger_head(self) -> SignedTreeHead | None: ...
    async def ledger_head_covering(self, index: int) -> SignedTreeHead | None: ...
    async def ledger_head_of(self, size: int) -> SignedTreeHead | None: ...
    async def ledger_key(self) -> SigningKey | None: ...
    async def put_ledger_key(self, key: SigningKey) -> None: ...


class Repository(
    PartyRepo, OperationRepo, ConstraintRepo, VolumeIndex, EventRepo, TacticalRepo,
    HotlineRepo, WebhookRepo, LedgerRepo, Protocol,
):
    """Everything the service may do to persistent state, inside one unit of work."""
