"""/v1/messages: the hotline — messages, replies, receipts; escalation contacts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.lean import LeanRoute
from deconfliction.api.paging import Cursor, RecentLimit
from deconfliction.api.schemas import ContactsIn, MessageIn, ReplyIn
from deconfliction.api.views import message_view, party_link_view, recipient_view, with_receipt
from deconfliction.model.message import ReplyKind, Urgency
from deconfliction.model.party import Party
from deconfliction.service import hotline
from deconfliction.service.line import Line
from deconfliction.service.paging import PAGE_DEFAULT_RECENT

router = APIRouter(prefix="/v1", tags=["hotline"])


async def send_message(line: Line, party: Party, body: MessageIn,
                       _path: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """POST /v1/messages (here and in the lean lane): the view and the Location header."""
    sent = await hotline.send_message(
        line, party, to=body.to, urgency=Urgency(body.urgency), subject=body.subject,
        body=body.body, refs=body.refs, now=line.clock())
    message, recipients = sent.value
    return (with_receipt(message_view(message, recipients, party), sent.receipt),
            {"Location": f"/v1/messages/{message.id}"})


async def send_reply(line: Line, party: Party, body: ReplyIn,
                     path: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """POST /v1/messages/{message_id}/replies (here and in the lean lane)."""
    message_id = path["message_id"]
    done = await hotline.reply(line, party, message_id, ReplyKind(body.reply), body.text,
                               line.clock())
    return with_receipt({"message_id": message_id, **recipient_view(done.value)},
                        done.receipt), {}


LEAN_ROUTES = (
    LeanRoute("/v1/messages", MessageIn, 201, send_message),
    LeanRoute("/v1/messages/{message_id}/replies", ReplyIn, 201, send_reply),
)
"""The hotline's writes, also served by the lean lane (`api.lean`): same handlers, same
answers."""


@router.post("/messages", status_code=201, summary="Send a message to a party or to all")
async def send(body: MessageIn, party: CurrentParty, line: LineDep,
               response: Response) -> dict[str, Any]:
    view, headers = await send_message(line, party, body, {})
    response.headers.update(headers)
    return view


@router.get("/messages", summary="Threads you sent or received (observers: all), newest first")
async def threads(
    party: CurrentParty, line: LineDep,
    limit: RecentLimit = PAGE_DEFAULT_RECENT, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await hotline.list_messages(line, party, limit=limit, now=line.clock(),
                                        cursor=cursor)
    return {"messages": [message_view(m, r, party) for m, r in found], "next": found.next}


@router.get("/messages/{message_id}", summary="One thread with each recipient's status")
async def thread(message_id: str, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    message, recipients = await hotline.get_message(line, party, message_id, line.clock())
    return message_view(message, recipients, party)


@router.post("/messages/{message_id}/replies", status_code=201,
             summary="Reply to a message you received")
async def reply(message_id: str, body: ReplyIn, party: CurrentParty,
                line: LineDep) -> dict[str, Any]:
    view, _ = await send_reply(line, party, body, {"message_id": message_id})
    return view


@router.put("/parties/me/escalation", summary="Who is told when you leave a message unanswered")
async def set_contacts(body: ContactsIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    link = await hotline.set_escalation_contacts(line, party, body.contacts, line.clock())
    return party_link_view(link)


@router.get("/parties/me/escalation", summary="Your escalation contacts")
async def contacts(party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return party_link_view(await hotline.escalation_contacts(line, party))
