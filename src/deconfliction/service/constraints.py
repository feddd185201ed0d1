"""Constraints: authorities close airspace; every party sees every constraint."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace

from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.party import Party, Role
from deconfliction.model.volume import Volume
from deconfliction.service import evidence, paging
from deconfliction.service.errors import (
    AlreadyEnded,
    FieldError,
    NotFound,
    OvnMismatch,
    PermissionDenied,
    ValidationFailed,
)
from deconfliction.service.evidence import Recorded
from deconfliction.service.line import Line
from deconfliction.service.operations import new_ovn
from deconfliction.service.validation import off_loop, volume_errors
from deconfliction.service.volume_index import constraint_cells, volume_cells
from deconfliction.store.base import Repository


@dataclass(frozen=True, slots=True)
class PublishConstraint:
    """A new constraint (``constraint_id`` None) or a replace of the version ``ovn``."""

    kind: ConstraintKind
    volumes: tuple[Volume, ...]
    name: str = ""
    applies_to: tuple[str, ...] | None = None  # None: every operator
    exempt: tuple[str, ...] = ()
    constraint_id: str | None = None
    ovn: str | None = None


class _Keep(enum.Enum):
    """A patch leaves this field as it is (``applies_to``'s None already means everyone)."""

    KEEP = "keep"


KEEP = _Keep.KEEP


def _require_authority(party: Party) -> None:
    if party.role is not Role.AUTHORITY:
        raise PermissionDenied(f"a {party.role.value} may not publish constraints")


async def _check_names(repo: Repository, command: PublishConstraint) -> None:
    known = {p.name for p in await repo.parties()}
    errors = [
        FieldError(f"{field}[{i}]", f"no party named {name!r}")
        for field, names in (("applies_to", command.applies_to or ()), ("exempt", command.exempt))
        for i, name in enumerate(names)
        if name not in known
    ]
    if errors:
        raise ValidationFailed(errors)


async def _tell_everyone(repo: Repository, constraint: Constraint, kind: str, now: float) -> None:
    for party in await repo.parties():
        if party.active and party.name != constraint.authority:
            await repo.append_event(party.name, kind, now, {
                "constraint_id": constraint.id, "authority": constraint.authority,
                "kind": constraint.kind.value, "name": constraint.name,
                "state": constraint.state.value,
                "applies_to_you": constraint.applies_to_party(party.name),
            })


async def publish_constraint(
    line: Line, party: Party, command: PublishConstraint, now: float
) -> Recorded[Constraint]:
    """Publish or replace a constraint; every other party is told (at most
    ``declarations_per_minute`` changes of one party's operations and constraints). One
    costly job (`Line.gate`): checked in the party's turn; the write does not hold it."""
    _require_authority(party)
    async with line.gate.job(party.name, line.settings.limits):
        errors = await off_loop(command.volumes, volume_errors, command.volumes, now=now,
                                horizon_s=line.settings.planning_horizon_s,
                                limits=line.settings.limits)
        if errors:
            raise ValidationFailed(errors)
        line.quotas.take("declarations_per_minute", party.name,
                         line.settings.limits.declarations_per_minute, now=now)
        # its index keys, worked out before the writer is held (a published or replaced
        # constraint is active: a withdrawn one cannot be replaced)
        cells = await off_loop(command.volumes, volume_cells, command.volumes)

    async def work(repo: Repository) -> Recorded[Constraint]:
        await _check_names(repo, command)
        if command.constraint_id is None:
            constraint = Constraint(
                id=str(uuid.uuid4()), authority=party.name, kind=command.kind,
                name=command.name, volumes=command.volumes, applies_to=command.applies_to,
                exempt=command.exempt, state=ConstraintState.ACTIVE,
                ovn=new_ovn(), version=1, created_at=now, updated_at=now,
            )
            await repo.insert_constraint(constraint, cells)
            (receipt,) = await repo.append_leaves([
                evidence.constraint_changed(constraint, first=True)])
            await _tell_everyone(repo, constraint, "constraint.published", now)
            return Recorded(constraint, receipt)
        previous = await _owned(repo, party, command.constraint_id, command.ovn)
        constraint = replace(
            previous, kind=command.kind, name=command.name, volumes=command.volumes,
            applies_to=command.applies_to, exempt=command.exempt,
            ovn=new_ovn(), version=previous.version + 1, updated_at=now,
        )
        await repo.update_constraint(constraint, cells)
        (receipt,) = await repo.append_leaves([
            evidence.constraint_changed(constraint, first=False)])
        await _tell_everyone(repo, constraint, "constraint.changed", now)
        return Recorded(constraint, receipt)

    return await line.store.transact(work)


@dataclass(frozen=True, slots=True)
class PatchConstraint:
    """A JSON Merge Patch (RFC 7396) of the constraint ``constraint_id`` at version ``ovn``:
    the fields given change (``applies_to``: a tuple of names, or ``ALL``), the others keep
    their values."""

    constraint_id: str
    ovn: str
    kind: ConstraintKind | None = None
    volumes: tuple[Volume, ...] | None = None
    name: str | None = None
    applies_to: tuple[str, ...] | None | _Keep = KEEP
    exempt: tuple[str, ...] | None = None


def patched(current: Constraint, patch: PatchConstraint) -> PublishConstraint:
    """The full replacement a patch means: the current constraint with the patch's fields."""
    return PublishConstraint(
        kind=current.kind if patch.kind is None else patch.kind,
        volumes=current.volumes if patch.volumes is None else patch.volumes,
        name=current.name if patch.name is None else patch.name,
        applies_to=(current.applies_to if isinstance(patch.applies_to, _Keep)
                    else patch.applies_to),
        exempt=current.exempt if patch.exempt is None else patch.exempt,
        constraint_id=patch.constraint_id, ovn=patch.ovn,
    )


async def patch_constraint(
    line: Line, party: Party, patch: PatchConstraint, now: float
) -> Recorded[Constraint]:
    """Change only what ``patch`` names, through :func:`publish_constraint` (the same checks,
    ledger leaf and events as a replace; the ovn is checked again in its unit of work)."""
    _require_authority(party)
    current = await line.store.interact(
        lambda repo: _owned(repo, party, patch.constraint_id, patch.ovn))
    return await publish_constraint(line, party, patched(current, patch), now)


async def _owned(
    repo: Repository, party: Party, constraint_id: str, ovn: str | None
) -> Constraint:
    constraint = await repo.constraint(constraint_id)
    if constraint is None:
        raise NotFound(f"no constraint {constraint_id}")
    if constraint.authority != party.name:
        raise PermissionDenied(f"constraint {constraint_id} was published by another authority")
    if constraint.state is ConstraintState.WITHDRAWN:
        raise AlreadyEnded(f"constraint {constraint_id} has been withdrawn")
    if ovn != constraint.ovn:
        raise OvnMismatch(f"ovn {ovn!r} is not the current version of constraint "
                          f"{constraint_id}", current_ovn=constraint.ovn)
    return constraint


async def withdraw_constraint(
    line: Line, party: Party, constraint_id: str, ovn: str, now: float
) -> Recorded[Constraint]:
    """Withdraw a constraint: it stays on record and closes nothing any more (a change counted
    toward ``declarations_per_minute``)."""
    _require_authority(party)
    line.quotas.take("declarations_per_minute", party.name,
                     line.settings.limits.declarations_per_minute, now=now)

    async def work(repo: Repository) -> Recorded[Constraint]:
        previous = await _owned(repo, party, constraint_id, ovn)
        constraint = replace(previous, state=ConstraintState.WITHDRAWN,
                             ovn=new_ovn(), version=previous.version + 1,
                             updated_at=now)
        await repo.update_constraint(constraint, constraint_cells(constraint))
        (receipt,) = await repo.append_leaves([
            evidence.constraint_changed(constraint, first=False)])
        await _tell_everyone(repo, constraint, "constraint.withdrawn", now)
        return Recorded(constraint, receipt)

    return await line.store.transact(work)


async def get_constraint(line: Line, constraint_id: str) -> Constraint:
    constraint = await line.store.interact(lambda repo: repo.constraint(constraint_id))
    if constraint is None:
        raise NotFound(f"no constraint {constraint_id}")
    return constraint


CONSTRAINTS: paging.Order[Constraint] = paging.Order(
    "constraints", lambda k: (k.created_at, k.id), (float, str))


async def list_constraints(
    line: Line, *, cursor: str | None = None, limit: int = paging.PAGE_MAX
) -> paging.Page[Constraint]:
    """Constraints (withdrawn ones too), oldest first, a page at a time: every party reads
    every constraint."""
    after = CONSTRAINTS.after(cursor)
    return CONSTRAINTS.page(await line.store.interact(
        lambda repo: repo.constraints(after=after, limit=limit + 1)), limit)
