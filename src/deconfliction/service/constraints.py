"""Constraints: authorities close airspace; every party sees every constraint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.party import Party, Role
from deconfliction.model.volume import Volume
from deconfliction.service import evidence
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
from deconfliction.service.validation import volume_errors
from deconfliction.service.volume_index import constraint_cells
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
    """Publish or replace a constraint; every other party is told."""
    _require_authority(party)
    errors = volume_errors(command.volumes, now=now, horizon_s=line.settings.planning_horizon_s,
                           limits=line.settings.limits)
    if errors:
        raise ValidationFailed(errors)

    async def work(repo: Repository) -> Recorded[Constraint]:
        await _check_names(repo, command)
        if command.constraint_id is None:
            constraint = Constraint(
                id=str(uuid.uuid4()), authority=party.name, kind=command.kind,
                name=command.name, volumes=command.volumes, applies_to=command.applies_to,
                exempt=command.exempt, state=ConstraintState.ACTIVE,
                ovn=new_ovn(), version=1, created_at=now, updated_at=now,
            )
            await repo.insert_constraint(constraint, constraint_cells(constraint))
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
        await repo.update_constraint(constraint, constraint_cells(constraint))
        (receipt,) = await repo.append_leaves([
            evidence.constraint_changed(constraint, first=False)])
        await _tell_everyone(repo, constraint, "constraint.changed", now)
        return Recorded(constraint, receipt)

    return await line.store.transact(work)


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
    """Withdraw a constraint: it stays on record and closes nothing any more."""
    _require_authority(party)

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


async def list_constraints(line: Line) -> list[Constraint]:
    return await line.store.interact(lambda repo: repo.constraints())
