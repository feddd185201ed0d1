"""The live picture's inputs: the aircraft registry and state reports (API and feeds)."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from deconfliction.model.ledger import Leaf
from deconfliction.model.operation import OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import UNIDENTIFIED, Aircraft, StateReport, Track
from deconfliction.service import access, evidence, paging
from deconfliction.service.errors import (
    MAX_LISTED,
    AlreadyExists,
    FieldError,
    LimitExceeded,
    PermissionDenied,
    ValidationFailed,
)
from deconfliction.service.line import Line
from deconfliction.store.base import Repository

CLOCK_SKEW_S = 5.0  # parties' clocks agree within 5 s (DESIGN.md, hotline numbers)
MAX_REPORTS = 10_000
ICAO24 = re.compile(r"^[0-9a-f]{6}$")
AIRCRAFT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class IgnoredReason(enum.Enum):
    """Why a state report did not become its aircraft's latest state."""

    DUPLICATE = "duplicate"  # the same time as the state held (or another in the batch)
    OUT_OF_ORDER = "out_of_order"  # older than the state held
    SUPERSEDED = "superseded"  # a newer state of the aircraft came in the same batch
    STALE = "stale"  # older than track_drop_s: no longer a live picture


@dataclass(frozen=True, slots=True)
class Ignored:
    """One report the line did not take, and why."""

    aircraft_id: str
    time: float
    reason: IgnoredReason


@dataclass(frozen=True, slots=True)
class Ingested:
    """How many reports became the latest state, how many were ignored, the first
    `MAX_LISTED` of those with their reasons (a batch of thousands answers in a few lines, as
    field errors do), and the ledger leaf recording the accepted ones (None: none accepted).
    (A report from the future is not ignored: it is a 400.)"""

    accepted: int
    ignored: int
    receipt: Leaf | None = None
    why: tuple[Ignored, ...] = ()


def _require_operator(party: Party) -> None:
    if party.role is not Role.OPERATOR:
        raise PermissionDenied(f"a {party.role.value} has no aircraft")


async def register_aircraft(line: Line, party: Party, entry: Aircraft) -> Aircraft:
    """Register or update one of the party's aircraft.

    Ids and ICAO addresses are the party's own: another party using the same ones is neither
    refused nor told (no answer may reveal which aircraft another party flies). Only the
    party's own registry can refuse: one address on two of its aircraft."""
    _require_operator(party)
    errors = []
    if not AIRCRAFT_ID.match(entry.id):
        errors.append(FieldError("id", "use 1-64 letters, digits, '.', '_', ':' or '-'"))
    if entry.icao24 is not None and not ICAO24.match(entry.icao24):
        errors.append(FieldError("icao24", "an ICAO 24-bit address is 6 lowercase hex digits"))
    if errors:
        raise ValidationFailed(errors)
    async def work(repo: Repository) -> Aircraft:
        existing = await repo.aircraft([entry.id], party=party.name)
        if not existing:  # a new aircraft: counted as those a track batch names are
            line.quotas.take("new_aircraft_per_minute", party.name,
                             line.settings.limits.new_aircraft_per_minute, now=line.clock())
        # an address already known for this aircraft (say, from the feed) stays unless replaced
        icao24 = entry.icao24 or (existing[0].icao24 if existing else None)
        mine = Aircraft(entry.id, party.name, icao24, entry.callsign, entry.operation_id)
        if entry.icao24 is not None:
            holders = await repo.aircraft_by_icao24([entry.icao24])
            if any(h.party == party.name and h.id != entry.id for h in holders):
                raise AlreadyExists(f"ICAO address {entry.icao24} is registered to another "
                                    "of your aircraft")
            # the feed's stand-in for the unclaimed address: its track is the claimed one's now
            await repo.drop_tracks([(h.party, h.id) for h in holders if h.party == UNIDENTIFIED])
        if entry.operation_id is not None:
            operation = await repo.operation(entry.operation_id)
            if operation is None or operation.owner != party.name:
                raise ValidationFailed([FieldError(
                    "operation_id", f"no operation {entry.operation_id} of yours")])
            if operation.state is OperationState.ENDED:
                raise ValidationFailed([FieldError("operation_id", "that operation has ended")])
        await repo.put_aircraft(mine)
        return mine

    return await line.store.transact(work)


def _own_only(party: Party) -> str | None:
    """The party whose records ``party`` may read (None: every party's, an observer)."""
    return None if party.sees_everything else party.name


AIRCRAFT: paging.Order[Aircraft] = paging.Order(
    "aircraft", lambda a: (a.id, a.party), (str, str))


async def list_aircraft(
    line: Line, party: Party, *, cursor: str | None = None, limit: int = paging.PAGE_MAX,
) -> paging.Page[Aircraft]:
    """The party's aircraft (observers: every aircraft), a page at a time."""
    after = AIRCRAFT.after(cursor)
    found = AIRCRAFT.page(await line.store.interact(lambda repo: repo.aircraft(
        party=_own_only(party), after=after, limit=limit + 1)), limit)
    return paging.Page([a for a in found if access.readable(
        access.Kind.AIRCRAFT, access.relation_to(party, owner=a.party))], found.next)


def report_errors(reports: Sequence[StateReport], now: float) -> list[FieldError]:
    """Everything wrong with a batch of reports, as field errors ``reports[i].…``."""
    if len(reports) > MAX_REPORTS:
        return [FieldError("reports", f"at most {MAX_REPORTS} reports per batch")]
    errors = []
    for i, r in enumerate(reports):
        at = f"reports[{i}]"
        if not AIRCRAFT_ID.match(r.aircraft_id):
            errors.append(FieldError(f"{at}.aircraft_id",
                                     "use 1-64 letters, digits, '.', '_', ':' or '-'"))
        for name in ("lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
                     "vertical_rate_mps"):
            if not math.isfinite(getattr(r, name)):
                errors.append(FieldError(f"{at}.{name}", "must be a finite number"))
        if not -90 <= r.lat <= 90:
            errors.append(FieldError(f"{at}.lat", "latitude outside [-90, 90]"))
        if not -180 <= r.lon <= 180:
            errors.append(FieldError(f"{at}.lon", "longitude outside [-180, 180]"))
        if not 0 <= r.ground_speed_mps <= 1500:
            errors.append(FieldError(f"{at}.ground_speed_mps", "must be in [0, 1500] m/s"))
        if not 0 <= r.track_deg <= 360:
            errors.append(FieldError(f"{at}.track_deg", "must be in [0, 360] degrees"))
        if not -500 <= r.altitude_m <= 40_000:
            errors.append(FieldError(f"{at}.altitude_m", "must be in [-500, 40000] m"))
        if abs(r.vertical_rate_mps) > 200:
            errors.append(FieldError(f"{at}.vertical_rate_mps", "must be within ±200 m/s"))
        if r.time > now + CLOCK_SKEW_S:
            errors.append(FieldError(f"{at}.time", "is in the future (clocks must agree "
                                                    f"within {CLOCK_SKEW_S:.0f} s)"))
    return errors


async def _store_newest(
    repo: Repository, tracks: Sequence[Track], now: float, drop_after_s: float
) -> Ingested:
    """Keep each aircraft's newest report if it is newer than the stored one and not stale;
    record the accepted ones, one ledger leaf per party (a party reads its own batch only)."""
    newest: dict[tuple[str, str], Track] = {}
    why: list[Ignored] = []

    def ignore(t: Track, reason: IgnoredReason) -> None:
        if len(why) < MAX_LISTED:
            why.append(Ignored(t.state.aircraft_id, t.state.time, reason))

    for t in tracks:
        key = (t.party, t.state.aircraft_id)
        held = newest.get(key)
        if held is None or t.state.time > held.state.time:
            newest[key] = t
            if held is not None:
                ignore(held, IgnoredReason.SUPERSEDED)
        else:
            ignore(t, IgnoredReason.DUPLICATE if t.state.time == held.state.time
                   else IgnoredReason.SUPERSEDED)
    stored = await repo.track_times(list(newest))
    fresh = []
    for key, t in newest.items():
        held_time = stored.get(key, -math.inf)
        if t.state.time < now - drop_after_s:
            ignore(t, IgnoredReason.STALE)
        elif t.state.time == held_time:
            ignore(t, IgnoredReason.DUPLICATE)
        elif t.state.time < held_time:
            ignore(t, IgnoredReason.OUT_OF_ORDER)
        else:
            fresh.append(t)
    if not fresh:
        return Ingested(0, len(tracks), None, tuple(why))
    await repo.put_tracks(fresh)
    by_party: dict[str, list[Track]] = {}
    for t in fresh:
        by_party.setdefault(t.party, []).append(t)
    leaves = await repo.append_leaves([evidence.tracks_reported(batch)
                                       for _party, batch in sorted(by_party.items())])
    return Ingested(len(fresh), len(tracks) - len(fresh), leaves[0], tuple(why))


async def report_tracks(
    line: Line, party: Party, reports: Sequence[StateReport], now: float
) -> Ingested:
    """Take a party's batch of state reports for its own aircraft (unknown ids are registered
    to it: ids are each party's own, so another party's use of an id is never in the way nor
    told). Idempotent per (aircraft, time); out-of-order and stale reports are ignored."""
    _require_operator(party)
    limits = line.settings.limits
    if len(reports) > limits.reports_per_batch:
        raise LimitExceeded(
            f"{len(reports)} reports; at most {limits.reports_per_batch} in one batch",
            limit="reports_per_batch", value=limits.reports_per_batch, field="reports")
    errors = report_errors(reports, now)
    if errors:
        raise ValidationFailed(errors)

    async def work(repo: Repository) -> Ingested:
        ids = sorted({r.aircraft_id for r in reports})
        known = {a.id for a in await repo.aircraft(ids, party=party.name)}
        new = [aid for aid in ids if aid not in known]
        if len(new) > limits.new_aircraft_per_batch:  # each is a row written under the lock
            raise LimitExceeded(
                f"{len(new)} aircraft not reported before; at most "
                f"{limits.new_aircraft_per_batch} new ones in one batch",
                limit="new_aircraft_per_batch", value=limits.new_aircraft_per_batch,
                field="reports")
        if new:
            line.quotas.take("new_aircraft_per_minute", party.name,
                             limits.new_aircraft_per_minute, now=now, count=len(new))
        for aid in new:
            await repo.put_aircraft(Aircraft(aid, party.name))
        tracks = [Track(party.name, r, now) for r in reports]
        return await _store_newest(repo, tracks, now, line.settings.track_drop_s)

    return await line.store.transact(work)


@dataclass(frozen=True, slots=True)
class FeedState:
    """A state from a surveillance feed, identified by ICAO address (not by a party)."""

    icao24: str
    callsign: str | None
    report: StateReport  # its aircraft_id is ignored: the registry decides


def _feed_aircraft(holders: Sequence[Aircraft]) -> Aircraft | None:
    """Whose aircraft a feed state for one address is: the one party's that registered the
    address; if no party or several did, the line cannot tell whose it is and it is the
    address's unidentified stand-in (None: there is none yet). No claim outranks another, so
    registering another party's address never takes its feed from it to the registrant."""
    claims = [a for a in holders if a.party != UNIDENTIFIED]
    if len(claims) == 1:
        return claims[0]
    return next((a for a in holders if a.party == UNIDENTIFIED), None)


async def ingest_feed(line: Line, states: Sequence[FeedState], now: float) -> Ingested:
    """Feed states (ADS-B): each goes to the aircraft the registry ties to its ICAO address;
    an address no party claims (or more than one party claims) is an ``unidentified`` aircraft,
    deconflicted all the same.
    """

    async def work(repo: Repository) -> Ingested:
        addresses = sorted({s.icao24 for s in states})
        holders: dict[str, list[Aircraft]] = {}
        for a in await repo.aircraft_by_icao24(addresses):
            holders.setdefault(a.icao24 or "", []).append(a)
        # an aircraft a party registered (or reported) under the feed's id for an address no
        # party claims is that party's claim on it: it gains the address
        unheld = {f"icao:{address}": address for address in addresses
                  if all(a.party == UNIDENTIFIED for a in holders.get(address, []))}
        for a in await repo.aircraft(list(unheld)) if unheld else []:
            if a.party != UNIDENTIFIED:
                claimed = Aircraft(a.id, a.party, unheld[a.id], a.callsign, a.operation_id)
                await repo.put_aircraft(claimed)
                await repo.drop_tracks([(UNIDENTIFIED, a.id)])  # the stand-in's, if any
                holders.setdefault(unheld[a.id], []).append(claimed)
        known: dict[str, Aircraft] = {}
        for address in addresses:
            entry = _feed_aircraft(holders.get(address, []))
            if entry is None:
                callsign = next((s.callsign for s in states
                                 if s.icao24 == address and s.callsign), None)
                entry = Aircraft(f"icao:{address}", UNIDENTIFIED, address, callsign)
                await repo.put_aircraft(entry)
            known[address] = entry
        tracks = []
        for s in states:
            a = known[s.icao24]
            r = s.report
            tracks.append(Track(a.party, StateReport(
                a.id, r.time, r.lat, r.lon, r.altitude_m, r.ground_speed_mps, r.track_deg,
                r.vertical_rate_mps), now))
        return await _store_newest(repo, tracks, now, line.settings.track_drop_s)

    return await line.store.transact(work)


TRACKS: paging.Order[Track] = paging.Order(
    "tracks", lambda t: (t.state.aircraft_id, t.party), (str, str))


async def list_tracks(
    line: Line, party: Party, *, cursor: str | None = None, limit: int = paging.PAGE_MAX,
) -> paging.Page[Track]:
    """Current tracks by need-to-know (a party's own; observers every track), a page at a
    time."""
    after = TRACKS.after(cursor)
    found = TRACKS.page(await line.store.interact(lambda repo: repo.tracks(
        party=_own_only(party), after=after, limit=limit + 1)), limit)
    return paging.Page([t for t in found if access.readable(
        access.Kind.TRACK, access.relation_to(party, owner=t.party))], found.next)
