"""/v1/line: who is connected, each party's status, link tests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.schemas import StatusIn
from deconfliction.api.views import link_test_view, party_link_view, with_receipt
from deconfliction.model.link import PartyStatus
from deconfliction.model.time import rfc3339
from deconfliction.service import link

router = APIRouter(prefix="/v1", tags=["line"])


@router.get("/line", summary="Every party's connection, last seen, status and round trip")
async def state(_party: CurrentParty, line: LineDep) -> dict[str, Any]:
    found = await link.line_state(line)
    return {
        "parties": [{
            "name": e.party.name, "role": e.party.role.value, "connected": e.connected,
            "streams": e.streams,
            "last_seen": rfc3339(e.last_seen) if e.last_seen is not None else None,
            "status": e.link.status.value,
            "status_since": rfc3339(e.link.status_at) if e.link.status_at else None,
            "round_trip_s": e.round_trip_s,
        } for e in found.entries],
        "latest_test": link_test_view(found.latest_test) if found.latest_test else None,
    }


@router.post("/line/test", status_code=201, summary="Send a link test to every party")
async def test(party: CurrentParty, line: LineDep) -> dict[str, Any]:
    sent = await link.send_link_test(line, party, line.clock())
    return with_receipt(link_test_view(sent.value), sent.receipt)


@router.get("/line/test/{test_id}", summary="A link test and each party's round trip")
async def test_result(test_id: str, _party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return link_test_view(await link.get_link_test(line, test_id))


@router.post("/line/test/{test_id}/ack", summary="Answer a link test (measures your round trip)")
async def ack(test_id: str, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    done = await link.ack_link_test(line, party, test_id, line.clock())
    return with_receipt(link_test_view(done.value), done.receipt)


@router.put("/parties/me/status", summary="Declare your status (shown to all; delivery unchanged)")
async def set_status(body: StatusIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    done = await link.set_status(line, party, PartyStatus(body.status), line.clock())
    return with_receipt(party_link_view(done.value), done.receipt)
