"""/v1/constraints: authorities publish; everyone reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from deconfliction.api.bodies import BodyRoute
from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.merge_patch import MERGE_PATCH, MergePatchBody
from deconfliction.api.paging import Cursor, Limit
from deconfliction.api.schemas import ConstraintIn, ConstraintPatchIn, ConstraintReplaceIn
from deconfliction.api.views import constraint_view, with_receipt
from deconfliction.model.constraint import ConstraintKind
from deconfliction.service import constraints as service
from deconfliction.service.paging import PAGE_MAX

router = APIRouter(prefix="/v1/constraints", tags=["constraints"], route_class=BodyRoute)


def _command(body: ConstraintIn, **identity: Any) -> service.PublishConstraint:
    return service.PublishConstraint(
        kind=body.kind_model(), volumes=tuple(v.to_model() for v in body.volumes),
        name=body.name, applies_to=body.applies_to_model(), exempt=tuple(body.exempt),
        **identity,
    )


@router.post("", status_code=201, summary="Publish a constraint")
async def publish(
    body: ConstraintIn, party: CurrentParty, line: LineDep, response: Response
) -> dict[str, Any]:
    published = await service.publish_constraint(line, party, _command(body), line.clock())
    response.headers["Location"] = f"/v1/constraints/{published.value.id}"
    return with_receipt(constraint_view(published.value), published.receipt)


@router.get("", summary="Constraints, oldest first, a page at a time")
async def list_all(
    _party: CurrentParty, line: LineDep, limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await service.list_constraints(line, cursor=cursor, limit=limit)
    return {"constraints": [constraint_view(c) for c in found], "next": found.next}


@router.get("/{constraint_id}", summary="One constraint")
async def get(constraint_id: str, _party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return constraint_view(await service.get_constraint(line, constraint_id))


@router.put("/{constraint_id}", summary="Replace a constraint (carrying its current ovn)")
async def replace(
    constraint_id: str, body: ConstraintReplaceIn, party: CurrentParty, line: LineDep
) -> dict[str, Any]:
    command = _command(body, constraint_id=constraint_id, ovn=body.ovn)
    published = await service.publish_constraint(line, party, command, line.clock())
    return with_receipt(constraint_view(published.value), published.receipt)


@router.patch("/{constraint_id}",
              summary="Change only the fields named (JSON Merge Patch, carrying the current ovn)")
async def patch(
    constraint_id: str, body: Annotated[ConstraintPatchIn, Body(media_type=MERGE_PATCH)],
    _merge_patch: MergePatchBody, party: CurrentParty, line: LineDep,
) -> dict[str, Any]:
    command = service.PatchConstraint(
        constraint_id=constraint_id, ovn=body.ovn,
        kind=ConstraintKind(body.kind) if body.kind is not None else None,
        volumes=tuple(v.to_model() for v in body.volumes) if body.volumes is not None else None,
        name=body.name,
        applies_to=(service.KEEP if body.applies_to is None
                    else None if body.applies_to == "all" else tuple(body.applies_to)),
        exempt=tuple(body.exempt) if body.exempt is not None else None,
    )
    published = await service.patch_constraint(line, party, command, line.clock())
    return with_receipt(constraint_view(published.value), published.receipt)


@router.delete("/{constraint_id}", summary="Withdraw a constraint (carrying its current ovn)")
async def withdraw(
    constraint_id: str,
    ovn: Annotated[str, Query(max_length=64)],
    party: CurrentParty,
    line: LineDep,
) -> dict[str, Any]:
    withdrawn = await service.withdraw_constraint(line, party, constraint_id, ovn, line.clock())
    return with_receipt(constraint_view(withdrawn.value), withdrawn.receipt)
