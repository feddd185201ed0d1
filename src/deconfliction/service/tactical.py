"""The tactical detection cycle: the live picture in, alerts and events out, once a second.

Each cycle extrapolates every track to now, drops tracks silent too long, and finds
predicted losses of separation (engine.tactical), constraint incursions (engine.incursion)
and tracks outside their operation's volumes (engine.conformance). The alert book
(engine.alerting) turns detections into raised/updated/cleared alerts — 2 of the last 4 cycles
to raise, 5 s of hysteresis to clear — which are stored, and told to each party involved by
need-to-know. One process runs the cycle (several processes come with the scale-out issue).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any, cast

import numpy as np

from deconfliction.engine.alerting import AlertBook, Transition, TransitionKind, alert_key
from deconfliction.engine.conformance import ConformanceMonitor, detect_excursions
from deconfliction.engine.geodesy import WGS84
from deconfliction.engine.incursion import detect_incursions
from deconfliction.engine.tactical import detect_conflicts
from deconfliction.model.alert import (
    AircraftSide,
    AircraftState,
    Alert,
    AlertDetails,
    AlertKind,
    AlertState,
    ConstraintRef,
    Encounter,
    EncounterFigures,
    Incursion,
    Nonconformance,
)
from deconfliction.model.constraint import Constraint
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.time import rfc3339
from deconfliction.model.track import UNIDENTIFIED, Aircraft, Track, TrackArrays
from deconfliction.service import access, evidence
from deconfliction.service.line import Line
from deconfliction.service.operations import new_ovn
from deconfliction.service.parties import tell_every_party
from deconfliction.service.volume_index import operation_cells
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Picture:
    """Everything one cycle looks at, read in one unit of work."""

    tracks: list[Track]
    aircraft: dict[str, Aircraft]
    constraints: list[Constraint]
    operations: dict[str, Operation]


@dataclass(frozen=True, slots=True)
class Detections:
    """What the detectors found in one cycle: alert payloads by key, and per monitored
    operation whether any of its aircraft is outside its volumes (conformance, computed once)."""

    found: dict[Any, AlertDetails]
    outside: dict[str, bool]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What a cycle did: how many tracks it saw and dropped, and its alert transitions."""

    tracks: int
    dropped: int
    transitions: list[Transition]


def _summary(details: AlertDetails) -> tuple[Any, ...]:
    """What must change for an alert to be worth an "updated": the encounter figures,
    coarsely (positions move every cycle; that alone is no news)."""
    if isinstance(details, Encounter):
        f = details.figures
        figures: tuple[Any, ...] = (f.t_in_s, f.t_out_s, f.tcpa_s, f.dcpa_m,
                                    f.vertical_at_cpa_m, f.lost_now)
    elif isinstance(details, Incursion):
        figures = (details.inside_now, details.time_to_entry_s)
    else:
        figures = ()
    return tuple(round(v / 5) if isinstance(v, float) else v for v in figures)


_STATE_FIELDS = attrgetter("time", "lat", "lon", "altitude_m", "ground_speed_mps", "track_deg",
                           "vertical_rate_mps")


def _track_arrays(tracks: list[Track], now: float) -> TrackArrays:
    """Each track moved along its velocity from its report time to ``now``, as the detectors'
    record; each party a code, each unidentified aircraft a code of its own."""
    rows = np.array([_STATE_FIELDS(t.state) for t in tracks], dtype=np.float64).reshape(-1, 7)
    reported, lat0, lon0, alt0, gs, trk, vs = rows.T
    dt = now - reported
    if tracks:
        lon, lat, _ = WGS84.fwd(lon0, lat0, trk, gs * dt)
    else:
        lon = lat = np.empty(0)
    names: dict[str, int] = {}
    party = np.array([-(i + 1) if t.party == UNIDENTIFIED else names.setdefault(t.party, len(names))
                      for i, t in enumerate(tracks)], dtype=np.int64)
    return TrackArrays([t.key for t in tracks], lat, lon, alt0 + vs * dt, gs, trk,
                       vs, party, time_s=now)


def _side(track: Track, aircraft: Aircraft | None, at: TrackArrays, i: int) -> AircraftSide:
    """One aircraft's side of an alert: whose it is, its identity, its state at the cycle."""
    s = track.state
    return AircraftSide(
        track.party, s.aircraft_id, aircraft.callsign if aircraft else None,
        aircraft.icao24 if aircraft else None,
        AircraftState(at.time_s, round(float(at.lat_deg[i]), 6), round(float(at.lon_deg[i]), 6),
                      round(float(at.alt_m[i]), 1), s.ground_speed_mps, s.track_deg,
                      s.vertical_rate_mps))


class DetectionCycle:
    """The tactical loop's state (alert book, conformance timers) and one-cycle step."""

    def __init__(self, line: Line, *, new_id: Callable[[], str] | None = None) -> None:
        self.line = line
        self.book = AlertBook(new_id or (lambda: str(uuid.uuid4())),
                              changed=lambda old, new: _summary(old) != _summary(new))
        self.conformance = ConformanceMonitor()
        self._alerts: dict[str, Alert] = {}
        self._restored = False

    async def _restore(self) -> None:
        for a in await self.line.store.interact(lambda r: r.alerts(active_only=True)):
            self.book.restore(a.key, a.id, a.details, a.raised_at)
            self._alerts[a.id] = a
        self._restored = True

    async def _picture(self) -> Picture:
        async def work(repo: Repository) -> Picture:
            tracks = await repo.tracks()
            # every party's aircraft of these ids: a superset, looked up by (party, id) key
            aircraft = {a.key: a for a in await repo.aircraft(sorted(
                {t.state.aircraft_id for t in tracks}))}
            tied = sorted({a.operation_id for a in aircraft.values() if a.operation_id})
            return Picture(tracks, aircraft,
                           await repo.constraints(include_withdrawn=False),
                           {o.id: o for o in await repo.operations(ids=tied)})
        return await self.line.store.interact(work)

    async def step(self, now: float) -> CycleReport:
        """Run one detection cycle at ``now`` (UTC seconds) and persist what it found."""
        if not self._restored:
            await self._restore()
        settings = self.line.settings
        picture = await self._picture()
        live = [t for t in picture.tracks if now - t.state.time <= settings.track_drop_s]
        dropped = [t for t in picture.tracks if now - t.state.time > settings.track_drop_s]
        # the detectors are compiled, GIL-free numpy/numba work: off the event loop, so the
        # API keeps answering while a large picture (or the first, compiling cycle) runs
        detections = (await asyncio.to_thread(self._detect, live, picture, now) if live
                      else Detections({}, {}))
        changes = self.conformance.step(now, detections.outside)
        transitions = self.book.step(now, detections.found)
        # the records are made before the transaction, which may run more than once
        alerts = [self._alert_after(t, now) for t in transitions]

        async def work(repo: Repository) -> None:
            if dropped:
                # only tracks with no newer report since the picture was read
                times = await repo.track_times([(t.party, t.state.aircraft_id)
                                                for t in dropped])
                cutoff = now - settings.track_drop_s
                gone = [t for t in dropped
                        if times.get((t.party, t.state.aircraft_id), cutoff) < cutoff]
                await repo.drop_tracks([(t.party, t.state.aircraft_id) for t in gone])
                for t in gone:
                    if t.party != UNIDENTIFIED:
                        await repo.append_event(t.party, "track.dropped", now, {
                            "aircraft_id": t.state.aircraft_id,
                            "last_report": rfc3339(t.state.time)})
            for change in changes:
                await self._apply_conformance(repo, change.operation_id, change.new_state, now)
            for transition, alert in zip(transitions, alerts, strict=True):
                await commit_alert(repo, transition.kind, alert, now)

        if dropped or changes or transitions:
            await self.line.store.transact(work)
        for alert in alerts:
            if alert.state is AlertState.CLEARED:
                self._alerts.pop(alert.id, None)
            else:
                self._alerts[alert.id] = alert
        return CycleReport(len(live), len(dropped), transitions)

    # detection -------------------------------------------------------------------------------
    def _detect(self, tracks: list[Track], picture: Picture, now: float) -> Detections:
        """Run the three detectors on one record of the live tracks, extrapolated to ``now``."""
        profile = self.line.settings.profile
        at = _track_arrays(tracks, now)
        found: dict[Any, AlertDetails] = {}
        entry = [_side(t, picture.aircraft.get(t.key), at, i)
                 for i, t in enumerate(tracks)]
        enc = detect_conflicts(at, horizontal_m=profile.horizontal_m, vertical_m=profile.vertical_m,
                               look_ahead_s=profile.look_ahead_s,
                               same_party=self.line.settings.same_party_conflicts)
        for k in range(len(enc)):
            i, j = int(enc.i[k]), int(enc.j[k])
            kind = (AlertKind.LOSS_OF_SEPARATION if enc.lost_now[k] else AlertKind.CONFLICT)
            key = alert_key(kind.value, tracks[i].key, tracks[j].key)
            found[key] = Encounter((entry[i], entry[j]), EncounterFigures(
                round(float(enc.t_in[k]), 1), round(float(enc.t_out[k]), 1),
                round(float(enc.tcpa[k]), 1), round(float(enc.dcpa_m[k]), 1),
                round(float(enc.vertical_at_cpa_m[k]), 1), bool(enc.lost_now[k])), profile.name)
        volumes, owners = [], []
        for c in picture.constraints:
            for v in c.volumes:
                volumes.append(v)
                owners.append(c)
        if volumes:
            inc = detect_incursions(at, volumes, look_ahead_s=profile.look_ahead_s)
            for k in range(len(inc)):
                i, c = int(inc.track_index[k]), owners[int(inc.volume_index[k])]
                if not c.applies_to_party(tracks[i].party):
                    continue
                key = alert_key(AlertKind.CONSTRAINT_INCURSION.value, tracks[i].key, c.id)
                entry_s = round(float(inc.time_to_entry_s[k]), 1)
                held = found.get(key)
                if not isinstance(held, Incursion) or entry_s < held.time_to_entry_s:
                    found[key] = Incursion(
                        entry[i], ConstraintRef(c.id, c.name, c.kind.value, c.authority),
                        bool(inc.inside_now[k]), entry_s)
        # conformance: each tied track tested once; the alerts and the timers share the result
        operations: list[Operation] = []
        index: dict[str, int] = {}
        tied = np.full(len(tracks), -1, dtype=np.int64)
        for i, t in enumerate(tracks):
            operation = self._tied_operation(t, picture)
            if operation is not None:
                k = index.setdefault(operation.id, len(operations))
                if k == len(operations):
                    operations.append(operation)
                tied[i] = k
        excursion = detect_excursions(at, tied, [o.volumes for o in operations])
        outside = {o.id: False for o in operations}
        for i in np.flatnonzero(excursion).tolist():
            operation = operations[int(tied[i])]
            outside[operation.id] = True
            key = alert_key(AlertKind.NONCONFORMANCE.value, tracks[i].key, operation.id)
            found[key] = Nonconformance(entry[i], operation.id, operation.owner)
        return Detections(found, outside)

    @staticmethod
    def _tied_operation(track: Track, picture: Picture) -> Operation | None:
        aircraft = picture.aircraft.get(track.key)
        if aircraft is None or aircraft.operation_id is None:
            return None
        operation = picture.operations.get(aircraft.operation_id)
        return operation if operation is not None and operation.state.monitored else None

    # recording -------------------------------------------------------------------------------
    async def _apply_conformance(
        self, repo: Repository, operation_id: str, state: OperationState, now: float
    ) -> None:
        operation = await repo.operation(operation_id)
        if operation is None or not operation.state.monitored:
            return
        if state is operation.state:
            return
        changed = replace(operation, state=state, ovn=new_ovn(),
                          version=operation.version + 1, updated_at=now)
        await repo.update_operation(changed, operation_cells(changed))
        await repo.append_leaves([evidence.operation_changed(changed, first=False)])
        await tell_every_party(repo, "operation.state", now, {
            "operation_id": operation.id, "owner": operation.owner,
            "state": state.value, "previous_state": operation.state.value,
            "ovn": changed.ovn})

    def _alert_after(self, transition: Transition, now: float) -> Alert:
        """The alert's record once ``transition`` has happened."""
        details: AlertDetails = transition.payload
        previous = self._alerts.get(transition.alert_id)
        if transition.kind == "raised" or previous is None:
            parties = {a.party for a in details.sides if a.party != UNIDENTIFIED}
            if isinstance(details, Incursion):
                parties.add(details.constraint.authority)
            key = cast(tuple[str, ...], transition.key)  # alert_key's (kind, subject, other)
            return Alert(transition.alert_id, AlertKind(key[0]), key,
                         tuple(sorted(parties)), AlertState.RAISED, now, now, None, details)
        if transition.kind == "updated":
            return replace(previous, details=details, updated_at=now)
        return replace(previous, state=AlertState.CLEARED, updated_at=now, cleared_at=now)


async def commit_alert(repo: Repository, transition: TransitionKind, alert: Alert,
                       now: float) -> None:
    """Store ``alert`` after ``transition`` (raised, updated, cleared), record it in the ledger
    as one leaf per reader view (`access.alert_entries`) and tell each party concerned its own
    view, in ``repo``'s unit of work."""
    await repo.put_alert(alert)
    kind = f"alert.{transition}"
    at = alert.cleared_at if alert.cleared_at is not None else alert.updated_at
    await repo.append_leaves([evidence.draft(kind, parties, body, at)
                              for parties, body in access.alert_entries(alert)])
    for party in alert.parties:
        await repo.append_event(party, kind, now, {
            "alert_id": alert.id, "alert_kind": alert.kind.value,
            **access.alert_details(alert.details, party)})


async def run_detection(line: Line, stop: asyncio.Event) -> None:
    """Run detection cycles every ``detection_interval_s`` until ``stop`` is set."""
    cycle = DetectionCycle(line)
    interval = line.settings.detection_interval_s
    while not stop.is_set():
        started = line.clock()
        try:
            await cycle.step(started)
        except Exception:  # one bad cycle must not stop the line
            log.exception("detection cycle failed")
        elapsed = line.clock() - started
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, interval - elapsed))
        except TimeoutError:
            pass
