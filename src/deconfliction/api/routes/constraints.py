"""/v1/constraints: authorities publish; everyone reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from deconfliction.api.bodies import BodyRoute
from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.schemas import ConstraintIn, ConstraintReplaceIn
from deconfliction.api.views import constraint_view, with_receipt
from deconfliction.service import constraints as service

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


@router.get("", summary="Every constraint")
async def list_all(_party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return {"constraints": [constraint_view(c) for c in await service.list_constraints(line)]}


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


@router.delete("/{constraint_id}", summary="Withdraw a constraint (carrying its current ovn)")
async def withdraw(
    constraint_id: str,
    ovn: Annotated[str, Query(max_length=64)],
    party: CurrentParty,
    line: LineDep,
) -> dict[str, Any]:
    withdrawn = await service.withdraw_constraint(line, party, constraint_id, ovn, line.clock())
    return with_receipt(constraint_view(withdrawn.value), withdrawn.receipt)
