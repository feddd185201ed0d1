"""/v1/aircraft, /v1/tracks, /v1/alerts: the live picture, by need-to-know."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from deconfliction.api.bodies import BodyRoute
from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.paging import Cursor, Limit, RecentLimit
from deconfliction.api.schemas import AircraftIn, TrackBatchIn
from deconfliction.api.views import aircraft_view, track_view, with_receipt
from deconfliction.model.time import rfc3339
from deconfliction.model.track import Aircraft
from deconfliction.service import alerts, tracks
from deconfliction.service.paging import PAGE_DEFAULT_RECENT, PAGE_MAX

router = APIRouter(prefix="/v1", tags=["tactical"], route_class=BodyRoute)


@router.post("/aircraft", summary="Register or update one of your aircraft")
async def register(body: AircraftIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    entry = Aircraft(body.id, party.name, body.icao24, body.callsign, body.operation_id)
    return aircraft_view(await tracks.register_aircraft(line, party, entry), party)


@router.get("/aircraft", summary="Your aircraft (observers: all), a page at a time")
async def aircraft(
    party: CurrentParty, line: LineDep, limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await tracks.list_aircraft(line, party, cursor=cursor, limit=limit)
    return {"aircraft": [aircraft_view(a, party) for a in found], "next": found.next}


@router.post("/tracks", summary="Report states of your aircraft (a batch)")
async def report(body: TrackBatchIn, party: CurrentParty, line: LineDep) -> dict[str, Any]:
    done = await tracks.report_tracks(line, party, [r.to_model() for r in body.reports],
                                      line.clock())
    answer: dict[str, Any] = {"accepted": done.accepted, "ignored": [
        {"aircraft_id": i.aircraft_id, "time": rfc3339(i.time), "reason": i.reason.value}
        for i in done.why]}
    if done.ignored > len(done.why):  # listed up to MAX_LISTED, as field errors are
        answer["ignored_omitted"] = done.ignored - len(done.why)
    return with_receipt(answer, done.receipt)


@router.get("/tracks", summary="Current tracks: yours (observers: all)")
async def current(
    party: CurrentParty, line: LineDep, limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    now = line.clock()
    found = await tracks.list_tracks(line, party, cursor=cursor, limit=limit)
    return {"tracks": [track_view(t, now, line.settings.track_coast_s, party)
                       for t in found], "next": found.next}


@router.get("/alerts", summary="Alerts that concern you (observers: all)")
async def list_alerts(
    party: CurrentParty,
    line: LineDep,
    state: Annotated[Literal["raised", "all"], Query()] = "all",
    limit: RecentLimit = PAGE_DEFAULT_RECENT, cursor: Cursor = None,
) -> dict[str, Any]:
    found = await alerts.list_alerts(line, party, active_only=state == "raised", limit=limit,
                                     cursor=cursor)
    return {"alerts": [view for _alert, view in found], "next": found.next}
