"""Operations: declare, replace, patch, end, read, query — one function per thing a party does."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from functools import partial

from deconfliction.engine.cells import search_cells
from deconfliction.engine.footprint import footprint_errors, geographic_bounds
from deconfliction.engine.strategic import footprints_intersecting
from deconfliction.model.ledger import Leaf
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.volume import Footprint, Volume
from deconfliction.service import access, evidence, paging
from deconfliction.service.errors import (
    AlreadyEnded,
    FieldError,
    NotFound,
    OvnMismatch,
    PermissionDenied,
    Refusal,
    ValidationFailed,
)
from deconfliction.service.line import Line, LineSettings
from deconfliction.service.strategic import (
    Proposal,
    Search,
    Versions,
    is_short_notice,
    judge,
    surroundings,
    versions_at,
)
from deconfliction.service.validation import check_volumes, off_loop
from deconfliction.service.volume_index import VolumeCells, operation_cells, volume_cells
from deconfliction.store.base import Repository

_QUERY_PAST_S = 8 * 86400.0  # a query with no window looks this far back (covers live volumes)
_OPTIMISTIC_TRIES = 2  # assessments outside the writer before one inside it (the fallback)


@dataclass(frozen=True, slots=True)
class DeclareOperation:
    """A create (``operation_id`` None) or a replace of the version ``ovn``."""

    volumes: tuple[Volume, ...]
    priority: int = 0
    state: OperationState = OperationState.ACCEPTED
    key: tuple[str, ...] = ()
    callsigns: tuple[str, ...] = ()
    notes: str = ""
    operation_id: str | None = None
    ovn: str | None = None


@dataclass(frozen=True, slots=True)
class Declared:
    """The stored operation, the lower-priority operations whose owners were told, and the
    ledger leaf recording the declaration (its receipt)."""

    operation: Operation
    overridden: tuple[Operation, ...]
    receipt: Leaf


@dataclass(frozen=True, slots=True)
class Area:
    """A 4D area of interest; a missing band or window means any."""

    footprint: Footprint
    altitude_lower_m: float | None = None
    altitude_upper_m: float | None = None
    time_start: float | None = None
    time_end: float | None = None


def sees_in_full(party: Party, operation: Operation) -> bool:
    """Need-to-know (``service.access``): the owner and observers see private fields; others
    the public view."""
    return access.in_full(access.Kind.OPERATION,
                          access.relation_to(party, owner=operation.owner))


def new_ovn() -> str:
    """A fresh version token: random, so it cannot be guessed without reading."""
    return secrets.token_urlsafe(16)


def _require_operator(party: Party) -> None:
    if party.role is not Role.OPERATOR:
        raise PermissionDenied(f"a {party.role.value} may not declare operations")


async def _tell_overridden(
    repo: Repository, operation: Operation, overridden: list[Operation], now: float
) -> None:
    for owner in sorted({o.owner for o in overridden}):
        theirs = [o.id for o in overridden if o.owner == owner]
        await repo.append_event(owner, "operation.conflict", now, {
            "operation_id": operation.id, "owner": operation.owner,
            "priority": operation.priority, "ovn": operation.ovn,
            "conflicts_with": theirs,
            "detail": "a higher-priority operation now conflicts with yours",
        })


@dataclass(frozen=True, slots=True)
class Acceptable:
    """A dry run's answer when the line would accept the plan as it stands now."""

    short_notice: bool
    overrides: tuple[Operation, ...]  # lower-priority operations whose owners would be told


@dataclass(frozen=True, slots=True)
class _Assessed:
    """What the strategic rules made of a declaration: its previous version (on a replace),
    the lower-priority operations it overrides, and whether it is short notice."""

    previous: Operation | None
    overridden: tuple[Operation, ...]
    short_notice: bool
    searches: list[Search] | None = None  # the index searches of the check (None: no check)
    versions: Versions = frozenset()  # what they found: what the check was made against


def _validate(line: Line, party: Party, command: DeclareOperation, now: float) -> None:
    """The checks that need no store: who may declare, which states, the volumes."""
    _require_operator(party)
    if command.state is OperationState.ENDED:
        raise ValidationFailed([FieldError("state", "end an operation with DELETE")])
    if command.operation_id is None and not command.state.deconflicted:
        raise ValidationFailed([FieldError(
            "state", "a new operation is accepted or activated (ASTM F3548-21); "
                     "nonconforming and contingent apply to existing ones")])
    check_volumes(command.volumes, now=now, horizon_s=line.settings.planning_horizon_s,
                  limits=line.settings.limits)


async def _assess(
    repo: Repository, settings: LineSettings, party: Party, command: DeclareOperation,
    now: float,
) -> _Assessed:
    """Apply the strategic rules (service.strategic) to a validated declaration, reading only:
    raise a :class:`Refusal` (or the error of a bad replace), or say what accepting it means."""
    previous = None
    if command.operation_id is not None:
        previous = await _owned(repo, party, command.operation_id, command.ovn)
    plan = Proposal(party.name, command.volumes, command.priority,
                    frozenset(command.key), command.operation_id)
    moved = previous is None or previous.volumes != command.volumes
    overridden: list[Operation] = []
    where: list[Search] | None = None
    versions: Versions = frozenset()
    if command.state.deconflicted:
        around = await surroundings(repo, plan, settings)
        where, versions = around.searches, around.versions
        overridden = await judge(repo, plan, around, now, settings, short_notice_rule=moved)
    if previous is not None and not moved:
        short = previous.short_notice  # unmoved: it keeps the notice it was given
    else:
        short = is_short_notice(plan, now, settings)
    return _Assessed(previous, tuple(overridden), short, where, versions)


async def _unchanged(repo: Repository, found: _Assessed) -> bool:
    """Inside the writer: whether what ``found`` was assessed against is as it was (the
    replaced operation's ovn, and the ids and ovns of the records near the plan) — index
    reads only, no geometry. On PostgreSQL these reads are in the SERIALIZABLE unit, so a
    concurrent write to them aborts one of the two (40001) and the retry sees it."""
    if found.previous is not None:
        now_is = await repo.operations(ids=[found.previous.id], include_ended=True,
                                       with_volumes=False)
        if not now_is or now_is[0].ovn != found.previous.ovn:
            return False
    return found.searches is None or await versions_at(repo, found.searches) == found.versions


async def declare_operation(
    line: Line, party: Party, command: DeclareOperation, now: float
) -> Declared:
    """Create or replace an operation under the strategic rules (service.strategic); at most
    ``declarations_per_minute`` changes of one party's operations and constraints. The
    geometry (validation and cells, then each assessment) is a costly job (`Line.gate`): it
    waits for the party's turn; the write does not hold the turn."""
    gate, limits = line.gate, line.settings.limits
    async with gate.job(party.name, limits):
        await off_loop(command.volumes, _validate, line, party, command, now)
        line.quotas.take("declarations_per_minute", party.name,
                         line.settings.limits.declarations_per_minute, now=now)
        # the cells (never ended here) and the assessment are worked out outside the
        # writer, so no party's write waits behind this one's geometry (DSS style: assess,
        # then store only if the ovns assessed against are unchanged; assess again if not)
        cells = await off_loop(command.volumes, volume_cells, command.volumes)
    for _ in range(_OPTIMISTIC_TRIES):
        async with gate.job(party.name, limits):
            # a read unit is one snapshot on both backends (SQLite BEGIN in WAL, PostgreSQL
            # REPEATABLE READ): the identity the check records is what it was made against
            found = await line.store.interact(
                lambda repo: _assess(repo, line.settings, party, command, now))
        stored = await line.store.transact(
            partial(_store_if_unchanged, party=party, command=command, found=found,
                    cells=cells, now=now))
        if stored is not None:
            return stored

    async def work(repo: Repository) -> Declared:  # the bounded fallback: all in the writer
        found = await _assess(repo, line.settings, party, command, now)
        return await _store(repo, party, command, found, cells, now)

    return await line.store.transact(work)


async def _store_if_unchanged(
    repo: Repository, party: Party, command: DeclareOperation, found: _Assessed,
    cells: VolumeCells, now: float,
) -> Declared | None:
    """:func:`_store` if what ``found`` was assessed against is unchanged, else None."""
    if not await _unchanged(repo, found):
        return None
    return await _store(repo, party, command, found, cells, now)


async def _store(
    repo: Repository, party: Party, command: DeclareOperation, found: _Assessed,
    cells: VolumeCells, now: float,
) -> Declared:
    """Store an assessed declaration, its ledger leaf and the overridden owners' events."""
    previous = found.previous
    if previous is None:
        operation = Operation(
            id=str(uuid.uuid4()), owner=party.name, volumes=command.volumes,
            priority=command.priority, state=command.state, ovn=new_ovn(), version=1,
            short_notice=found.short_notice, callsigns=command.callsigns,
            notes=command.notes, created_at=now, updated_at=now,
        )
        await repo.insert_operation(operation, cells)
    else:
        operation = replace(
            previous, volumes=command.volumes, priority=command.priority,
            state=command.state, ovn=new_ovn(), version=previous.version + 1,
            short_notice=found.short_notice, callsigns=command.callsigns,
            notes=command.notes, updated_at=now,
        )
        await repo.update_operation(operation, cells)
    (receipt,) = await repo.append_leaves([
        evidence.operation_changed(operation, first=previous is None)])
    await _tell_overridden(repo, operation, list(found.overridden), now)
    return Declared(operation, found.overridden, receipt)


@dataclass(frozen=True, slots=True)
class PatchOperation:
    """A JSON Merge Patch (RFC 7396) of the operation ``operation_id`` at version ``ovn``:
    the fields given (not None) change, every other keeps its value. ``key`` is this
    request's awareness key, as in :class:`DeclareOperation`."""

    operation_id: str
    ovn: str
    volumes: tuple[Volume, ...] | None = None
    priority: int | None = None
    state: OperationState | None = None
    callsigns: tuple[str, ...] | None = None
    notes: str | None = None
    key: tuple[str, ...] = ()


def patched(current: Operation, patch: PatchOperation) -> DeclareOperation:
    """The full replacement a patch means: the current operation with the patch's fields."""
    return DeclareOperation(
        volumes=current.volumes if patch.volumes is None else patch.volumes,
        priority=current.priority if patch.priority is None else patch.priority,
        state=current.state if patch.state is None else patch.state,
        key=patch.key,
        callsigns=current.callsigns if patch.callsigns is None else patch.callsigns,
        notes=current.notes if patch.notes is None else patch.notes,
        operation_id=patch.operation_id, ovn=patch.ovn,
    )


async def patch_operation(
    line: Line, party: Party, patch: PatchOperation, now: float
) -> Declared:
    """Change only what ``patch`` names, through :func:`declare_operation` (the same checks,
    ledger leaf and events as a replace). The version read here is checked again in the
    replace's own unit of work, so a change in between is an ovn mismatch, never lost."""
    _require_operator(party)
    current = await line.store.interact(
        lambda repo: _owned(repo, party, patch.operation_id, patch.ovn))
    return await declare_operation(line, party, patched(current, patch), now)


async def check_operation(
    line: Line, party: Party, command: DeclareOperation, now: float
) -> Acceptable | Refusal:
    """A dry run of :func:`declare_operation`: the same checks in a read-only unit, storing
    nothing and telling nobody, so a party sees conflicts and suggestions before it commits.

    The strategic rules' refusal is returned, not raised; every other error (validation,
    permission, an unknown or stale operation to replace) is raised as declaring raises it.
    The answer holds for the line as it is now: a later declaration is decided afresh. One
    costly job (`Line.gate`), as declaring is.
    """
    async with line.gate.job(party.name, line.settings.limits):
        return await _check(line, party, command, now)


async def _check(
    line: Line, party: Party, command: DeclareOperation, now: float
) -> Acceptable | Refusal:
    """:func:`check_operation` in the party's turn."""
    await off_loop(command.volumes, _validate, line, party, command, now)

    async def work(repo: Repository) -> Acceptable | Refusal:
        try:
            found = await _assess(repo, line.settings, party, command, now)
        except Refusal as refusal:
            return refusal
        return Acceptable(found.short_notice, found.overridden)

    return await line.store.interact(work)


async def _owned(repo: Repository, party: Party, operation_id: str, ovn: str | None) -> Operation:
    """The caller's own live operation at version ``ovn``."""
    operation = await repo.operation(operation_id)
    if operation is None:
        raise NotFound(f"no operation {operation_id}")
    if operation.owner != party.name:
        raise PermissionDenied(f"operation {operation_id} belongs to another party")
    if operation.state is OperationState.ENDED:
        raise AlreadyEnded(f"operation {operation_id} has ended")
    if ovn != operation.ovn:
        raise OvnMismatch(
            f"ovn {ovn!r} is not the current version of operation {operation_id}; "
            "read it again before changing it", current_ovn=operation.ovn)
    return operation


async def end_operation(
    line: Line, party: Party, operation_id: str, ovn: str, now: float
) -> evidence.Recorded[Operation]:
    """End an operation: it stays on record but no longer conflicts with anything (a change
    counted toward ``declarations_per_minute``)."""
    _require_operator(party)
    line.quotas.take("declarations_per_minute", party.name,
                     line.settings.limits.declarations_per_minute, now=now)

    async def work(repo: Repository) -> evidence.Recorded[Operation]:
        operation = await _owned(repo, party, operation_id, ovn)
        ended = replace(operation, state=OperationState.ENDED, ovn=new_ovn(),
                        version=operation.version + 1, updated_at=now)
        await repo.update_operation(ended, operation_cells(ended))
        (receipt,) = await repo.append_leaves([evidence.operation_changed(ended, first=False)])
        return evidence.Recorded(ended, receipt)

    return await line.store.transact(work)


async def get_operation(line: Line, party: Party, operation_id: str) -> tuple[Operation, bool]:
    """One operation and whether ``party`` may see it in full."""
    operation = await line.store.interact(lambda repo: repo.operation(operation_id))
    if operation is None:
        raise NotFound(f"no operation {operation_id}")
    return operation, sees_in_full(party, operation)


OPERATIONS: paging.Order[Operation] = paging.Order(
    "operations", lambda o: (o.created_at, o.id), (float, str))


async def list_operations(
    line: Line, party: Party, *, cursor: str | None = None, limit: int = paging.PAGE_MAX,
) -> paging.Page[tuple[Operation, bool]]:
    """Live operations, oldest first, a page at a time, each with whether ``party`` sees it
    in full (every party reads every live operation, others' in the public view)."""
    after = OPERATIONS.after(cursor)
    found = OPERATIONS.page(await line.store.interact(
        lambda repo: repo.operations(after=after, limit=limit + 1)), limit)
    return paging.Page([(o, sees_in_full(party, o)) for o in found], found.next)


async def query_operations(
    line: Line, party: Party, area: Area, now: float
) -> list[tuple[Operation, bool]]:
    """Live operations with a volume intersecting a 4D area."""
    errors = [FieldError(f"area.footprint.{sub}", message)
              for sub, message in footprint_errors(area.footprint)]
    if errors:
        raise ValidationFailed(errors)
    t0 = area.time_start if area.time_start is not None else now - _QUERY_PAST_S
    t1 = (area.time_end if area.time_end is not None
          else now + line.settings.planning_horizon_s + 86400.0)
    if t1 <= t0:
        raise ValidationFailed([FieldError("area.time_end", "time_end must be after time_start")])
    lower = area.altitude_lower_m if area.altitude_lower_m is not None else -1e7
    upper = area.altitude_upper_m if area.altitude_upper_m is not None else 1e7
    if lower > upper:
        raise ValidationFailed([FieldError("area.altitude_lower_m",
                                           "altitude_lower_m is above altitude_upper_m")])
    cells = search_cells(geographic_bounds(area.footprint), 0.0, t0, t1)

    async def work(repo: Repository) -> list[Operation]:
        found = [f for f in await repo.volumes_near(
            cells, time_start=t0, time_end=t1, altitude_lower_m=lower, altitude_upper_m=upper)
            if f.subject_kind == "operation"]
        hits = footprints_intersecting(area.footprint, [f.volume.footprint for f in found])
        ids = sorted({f.subject_id for f, hit in zip(found, hits, strict=True) if hit})
        return await repo.operations(ids=ids)

    operations = await line.store.interact(work)
    return [(o, sees_in_full(party, o)) for o in operations]
