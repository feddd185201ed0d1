"""The store interface: narrow repositories combined into one, behind two entry points.

As the InterUSS DSS does: ``interact`` runs a unit of reads without a write transaction;
``transact`` runs a function atomically and runs it again on a serialization failure, so the
function must have no side effects outside the repository. Services own the transactions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from deconfliction.model.alert import Alert
from deconfliction.model.constraint import Constraint
from deconfliction.model.event import Event
from deconfliction.model.link import LinkTest, PartyLink
from deconfliction.model.message import Message, Recipient
from deconfliction.model.operation import Operation
from deconfliction.model.party import Party
from deconfliction.model.track import Aircraft, Track
from deconfliction.model.volume import Volume

T = TypeVar("T")
CommitHook = Callable[[set[str]], None]


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
    async def insert_operation(self, operation: Operation) -> None: ...
    async def update_operation(self, operation: Operation) -> None: ...
    async def operation(self, operation_id: str) -> Operation | None: ...
    async def operations(
        self, *, ids: Sequence[str] | None = None, include_ended: bool = False,
        with_volumes: bool = True,
    ) -> list[Operation]:
        """Operations by id (or all); ``with_volumes=False`` leaves ``volumes`` empty, for
        callers that already hold them from the index."""
        ...


class ConstraintRepo(Protocol):
    async def insert_constraint(self, constraint: Constraint) -> None: ...
    async def update_constraint(self, constraint: Constraint) -> None: ...
    async def constraint(self, constraint_id: str) -> Constraint | None: ...
    async def constraints(
        self, *, ids: Sequence[str] | None = None, include_withdrawn: bool = True
    ) -> list[Constraint]: ...


class VolumeIndex(Protocol):
    async def volumes_near(
        self,
        cells: Sequence[Sequence[int]],
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
    async def close(self) -> None: ...
    def on_commit(self, hook: CommitHook) -> None:
        """Call ``hook`` with the parties whose streams a transaction extended, after it
        commits (in this process; other processes' writes are found by polling)."""
        ...


class TacticalRepo(Protocol):
    """The live picture: aircraft registry, latest tracks, alerts."""

    async def put_aircraft(self, aircraft: Aircraft) -> None: ...
    async def aircraft(self, ids: Sequence[str] | None = None) -> list[Aircraft]: ...
    async def aircraft_by_icao24(self, icao24: Sequence[str]) -> dict[str, Aircraft]: ...
    async def track_times(self, aircraft_ids: Sequence[str]) -> dict[str, float]: ...
    async def put_tracks(self, tracks: Sequence[Track]) -> None: ...
    async def tracks(self) -> list[Track]: ...
    async def drop_tracks(self, aircraft_ids: Sequence[str]) -> None: ...
    async def put_alert(self, alert: Alert) -> None: ...
    async def alerts(
        self, *, party: str | None = None, active_only: bool = False, limit: int = 1000
    ) -> list[Alert]: ...


class HotlineRepo(Protocol):
    """Messages and their recipients; each party's end of the line; link tests."""

    async def insert_message(self, message: Message, recipients: Sequence[Recipient]) -> None: ...
    async def message(self, message_id: str) -> Message | None: ...
    async def messages(self, *, party: str | None, limit: int) -> list[Message]:
        """Newest first: those ``party`` sent or received (``None``: all)."""
        ...

    async def recipients(self, message_ids: Sequence[str]) -> dict[str, list[Recipient]]: ...
    async def recipient(self, message_id: str, party: str) -> Recipient | None: ...
    async def put_recipient(self, recipient: Recipient) -> None: ...
    async def undelivered(self, party: str, message_ids: Sequence[str]) -> list[str]: ...
    async def mark_delivered(self, party: str, message_ids: Sequence[str], at: float) -> None: ...
    async def due_recipients(self, now: float, limit: int) -> list[Recipient]:
        """Recipients whose escalation time has come, earliest first."""
        ...

    async def known_refs(self, ids: Sequence[str]) -> set[str]: ...
    async def party_links(self) -> dict[str, PartyLink]: ...
    async def put_party_link(self, link: PartyLink) -> None: ...
    async def insert_link_test(self, test: LinkTest) -> None: ...
    async def link_test(self, test_id: str) -> LinkTest | None: ...
    async def latest_link_test(self) -> LinkTest | None: ...
    async def add_link_ack(self, test_id: str, party: str, at: float) -> None: ...


class Repository(
    PartyRepo, OperationRepo, ConstraintRepo, VolumeIndex, EventRepo, TacticalRepo,
    HotlineRepo, Protocol,
):
    """Everything the service may do to persistent state, inside one unit of work."""
