"""Health, who-am-I and parties (the event stream is in ``routes/events.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from deconfliction import __version__
from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.paging import Cursor, Limit
from deconfliction.api.views import party_view
from deconfliction.service import parties
from deconfliction.service.paging import PAGE_MAX

router = APIRouter(prefix="/v1", tags=["line"])


@router.get("/health", summary="Liveness (no token needed)")
async def health(line: LineDep) -> dict[str, Any]:
    profile = line.settings.profile
    return {"status": "ok", "version": __version__, "backend": line.store.backend,
            "separation_profile": {"name": profile.name, "horizontal_m": profile.horizontal_m,
                                   "vertical_m": profile.vertical_m,
                                   "look_ahead_s": profile.look_ahead_s},
            "notice_period_s": line.settings.notice_period_s}


@router.get("/parties/me", summary="The calling party")
async def me(party: CurrentParty) -> dict[str, Any]:
    return party_view(party)


@router.get("/parties", summary="Every party by name, a page at a time (names and roles; "
                                "never tokens)")
async def all_parties(
    _party: CurrentParty, line: LineDep, limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await parties.list_parties(line, cursor=cursor, limit=limit)
    return {"parties": [party_view(p) for p in found], "next": found.next}
