"""/v1/parties/me/webhook: your event stream, also POSTed (signed) to an endpoint of yours."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.schemas import WebhookIn
from deconfliction.api.views import webhook_view
from deconfliction.service import webhooks

router = APIRouter(prefix="/v1", tags=["events"])


@router.put("/parties/me/webhook",
            summary="Set your webhook: your events from now on, POSTed and HMAC-signed")
async def put(body: WebhookIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    state = await webhooks.set_webhook(line, party, body.url, body.secret, line.clock())
    return webhook_view(state.webhook, state.pending)


@router.get("/parties/me/webhook", summary="Your webhook and its delivery state (no secret)")
async def get(party: CurrentParty, line: LineDep) -> dict[str, Any]:
    state = await webhooks.get_webhook(line, party)
    return webhook_view(state.webhook, state.pending)


@router.delete("/parties/me/webhook", status_code=204, summary="Remove your webhook")
async def delete(party: CurrentParty, line: LineDep) -> Response:
    await webhooks.remove_webhook(line, party, line.clock())
    return Response(status_code=204)
