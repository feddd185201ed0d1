"""/v1/operations: routes parse, call one service function, and render the result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from deconfliction.api.bodies import BodyRoute
from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.merge_patch import MERGE_PATCH, MergePatchBody
from deconfliction.api.paging import Cursor, Limit
from deconfliction.api.problems import error_problem
from deconfliction.api.schemas import OperationIn, OperationPatchIn, OperationReplaceIn, QueryIn
from deconfliction.api.views import operation_view, override_view, with_receipt
from deconfliction.model.operation import OperationState
from deconfliction.service import operations as service
from deconfliction.service.errors import Refusal
from deconfliction.service.paging import PAGE_MAX

router = APIRouter(prefix="/v1/operations", tags=["operations"], route_class=BodyRoute)


def _command(body: OperationIn, **identity: Any) -> service.DeclareOperation:
    return service.DeclareOperation(
        volumes=body.volumes_model(), priority=body.priority, state=body.state_model(),
        key=tuple(body.key), callsigns=tuple(body.callsigns), notes=body.notes, **identity,
    )


@router.post("", status_code=201, summary="Declare an operation")
async def declare(
    body: OperationIn, party: CurrentParty, line: LineDep, response: Response
) -> dict[str, Any]:
    declared = await service.declare_operation(line, party, _command(body), line.clock())
    response.headers["Location"] = f"/v1/operations/{declared.operation.id}"
    return with_receipt(operation_view(declared.operation, party), declared.receipt)


def _checked(result: service.Acceptable | Refusal) -> dict[str, Any]:
    """A dry run's answer: acceptable (short notice? whom it overrides) or the refusal, as the
    very problem object declaring would answer with."""
    if isinstance(result, service.Acceptable):
        return {"acceptable": True, "short_notice": result.short_notice,
                "overrides": [override_view(o) for o in result.overrides]}
    return {"acceptable": False, "refusal": error_problem(result)}


@router.post("/check", summary="Dry run of a declaration: acceptable, or its refusal")
async def check(body: OperationIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return _checked(await service.check_operation(line, party, _command(body), line.clock()))


@router.get("", summary="Live operations, oldest first, a page at a time (others' in their "
                        "public view)")
async def list_all(
    party: CurrentParty, line: LineDep, limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await service.list_operations(line, party, cursor=cursor, limit=limit)
    return {"operations": [operation_view(o, party) for o, _full in found], "next": found.next}


@router.post("/query", summary="Live operations intersecting a 4D area")
async def query(body: QueryIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    area = body.area
    found = await service.query_operations(line, party, service.Area(
        footprint=area.footprint_model(),
        altitude_lower_m=area.altitude_lower_m, altitude_upper_m=area.altitude_upper_m,
        time_start=area.time_start.timestamp() if area.time_start else None,
        time_end=area.time_end.timestamp() if area.time_end else None,
    ), line.clock())
    return {"operations": [operation_view(o, party) for o, _full in found]}


@router.get("/{operation_id}", summary="One operation")
async def get(operation_id: str, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    operation, _full = await service.get_operation(line, party, operation_id)
    return operation_view(operation, party)


@router.put("/{operation_id}", summary="Replace an operation (carrying its current ovn)")
async def replace(
    operation_id: str, body: OperationReplaceIn, party: CurrentParty, line: LineDep
) -> dict[str, Any]:
    command = _command(body, operation_id=operation_id, ovn=body.ovn)
    declared = await service.declare_operation(line, party, command, line.clock())
    return with_receipt(operation_view(declared.operation, party), declared.receipt)


@router.patch("/{operation_id}",
              summary="Change only the fields named (JSON Merge Patch, carrying the current ovn)")
async def patch(
    operation_id: str, body: Annotated[OperationPatchIn, Body(media_type=MERGE_PATCH)],
    _merge_patch: MergePatchBody, party: CurrentParty, line: LineDep,
) -> dict[str, Any]:
    command = service.PatchOperation(
        operation_id=operation_id, ovn=body.ovn,
        volumes=tuple(v.to_model() for v in body.volumes) if body.volumes is not None else None,
        priority=body.priority,
        state=OperationState(body.state) if body.state is not None else None,
        callsigns=tuple(body.callsigns) if body.callsigns is not None else None,
        notes=body.notes, key=tuple(body.key or ()),
    )
    declared = await service.patch_operation(line, party, command, line.clock())
    return with_receipt(operation_view(declared.operation, party), declared.receipt)


@router.post("/{operation_id}/check",
             summary="Dry run of a replace (carrying the current ovn): stores nothing")
async def check_replace(
    operation_id: str, body: OperationReplaceIn, party: CurrentParty, line: LineDep
) -> dict[str, Any]:
    command = _command(body, operation_id=operation_id, ovn=body.ovn)
    return _checked(await service.check_operation(line, party, command, line.clock()))


@router.delete("/{operation_id}", summary="End an operation (carrying its current ovn)")
async def end(
    operation_id: str,
    ovn: Annotated[str, Query(max_length=64)],
    party: CurrentParty,
    line: LineDep,
) -> dict[str, Any]:
    ended = await service.end_operation(line, party, operation_id, ovn, line.clock())
    return with_receipt(operation_view(ended.value, party), ended.receipt)
