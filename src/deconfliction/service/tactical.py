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
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from deconfliction.engine.alerting import AlertBook, Transition, alert_key
from deconfliction.engine.conformance import ConformanceMonitor, outside_volumes
from deconfliction.engine.geodesy import WGS84
from deconfliction.engine.incursion import detect_incursions
from deconfliction.engine.tactical import detect_conflicts
from deconfliction.model.alert import Alert, AlertKind, AlertState
from deconfliction.model.constraint import Constraint
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.time import rfc3339
from deconfliction.model.track import UNIDENTIFIED, Aircraft, Track
from deconfliction.service.alerts import visible_details
from deconfliction.service.line import Line
from deconfliction.service.operations import new_ovn
from deconfliction.service.parties import tell_every_party
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

_MONITORED = (OperationState.ACCEPTED, OperationState.ACTIVATED, OperationState.NONCONFORMING,
              OperationState.CONTINGENT)


@dataclass(frozen=True, slots=True)
class Picture:
    """Everything one cycle looks at, read in one unit of work."""

    tracks: list[Track]
    aircraft: dict[str, Aircraft]
    constraints: list[Constraint]
    operations: dict[str, Operation]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What a cycle did: how many tracks it saw and dropped, and its alert transitions."""

    tracks: int
    dropped: int
    transitions: list[Transition]


def _summary(details: dict[str, Any]) -> tuple[Any, ...]:
    """What must change for an alert to be worth an "updated": the encounter figures,
    coarsely (positions move every cycle; that alone is no news)."""
    e = details.get("encounter") or details.get("incursion") or {}
    return tuple(sorted((k, round(v / 5) if isinstance(v, float) else v) for k, v in e.items()))


Positions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""lat, lon, altitude (m) and time of each track, extrapolated to the cycle's time."""


def _extrapolated(tracks: list[Track], now: float) -> Positions:
    """Each track moved along its velocity from its report time to ``now``."""
    if not tracks:
        empty = np.empty(0)
        return empty, empty, empty, empty
    dt = now - np.array([t.state.time for t in tracks])
    lon, lat, _ = WGS84.fwd(np.array([t.state.lon for t in tracks]),
                            np.array([t.state.lat for t in tracks]),
                            np.array([t.state.track_deg for t in tracks]),
                            np.array([t.state.ground_speed_mps for t in tracks]) * dt)
    alt = (np.array([t.state.altitude_m for t in tracks])
           + np.array([t.state.vertical_rate_mps for t in tracks]) * dt)
    return np.asarray(lat, float), np.asarray(lon, float), alt, np.full(len(tracks), now)


def _state_entry(track: Track, aircraft: Aircraft | None, at: Positions, i: int) -> dict:
    lat, lon, alt, t = at
    s = track.state
    return {
        "aircraft_id": s.aircraft_id, "party": track.party,
        "callsign": aircraft.callsign if aircraft else None,
        "state": {"time": rfc3339(float(t[i])), "lat": round(float(lat[i]), 6),
                  "lon": round(float(lon[i]), 6), "altitude_m": round(float(alt[i]), 1),
                  "ground_speed_mps": s.ground_speed_mps, "track_deg": s.track_deg,
                  "vertical_rate_mps": s.vertical_rate_mps},
    }


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
            aircraft = {a.id: a for a in await repo.aircraft([t.state.aircraft_id
                                                              for t in tracks])}
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
        at = _extrapolated(live, now)
        # the detectors are compiled, GIL-free numpy/numba work: off the event loop, so the
        # API keeps answering while a large picture (or the first, compiling cycle) runs
        detections = await asyncio.to_thread(self._detect, live, picture, at) if live else {}
        changes = self.conformance.step(now, self._outside(live, picture, at))
        transitions = self.book.step(now, detections)
        # the records are made before the transaction, which may run more than once
        alerts = [self._alert_after(t, now) for t in transitions]

        async def work(repo: Repository) -> None:
            if dropped:
                # only tracks with no newer report since the picture was read
                times = await repo.track_times([t.state.aircraft_id for t in dropped])
                cutoff = now - settings.track_drop_s
                gone = [t for t in dropped if times.get(t.state.aircraft_id, cutoff) < cutoff]
                await repo.drop_tracks([t.state.aircraft_id for t in gone])
                for t in gone:
                    if t.party != UNIDENTIFIED:
                        await repo.append_event(t.party, "track.dropped", now, {
                            "aircraft_id": t.state.aircraft_id,
                            "last_report": rfc3339(t.state.time)})
            for change in changes:
                await self._apply_conformance(repo, change.operation_id, change.new_state, now)
            for transition, alert in zip(transitions, alerts, strict=True):
                await repo.put_alert(alert)
                for party in alert.parties:
                    await repo.append_event(party, f"alert.{transition.kind}", now, {
                        "alert_id": alert.id, "alert_kind": alert.kind.value,
                        **visible_details(alert.details, party)})

        if dropped or changes or transitions:
            await self.line.store.transact(work)
        for alert in alerts:
            if alert.state is AlertState.CLEARED:
                self._alerts.pop(alert.id, None)
            else:
                self._alerts[alert.id] = alert
        return CycleReport(len(live), len(dropped), transitions)

    # detection -------------------------------------------------------------------------------
    def _detect(self, tracks: list[Track], picture: Picture, at: Positions) -> dict:
        profile = self.line.settings.profile
        lat, lon, alt, t_now = at
        now = float(t_now[0])
        gs = np.array([t.state.ground_speed_mps for t in tracks])
        trk = np.array([t.state.track_deg for t in tracks])
        vs = np.array([t.state.vertical_rate_mps for t in tracks])
        names: dict[str, int] = {}
        party = np.array([
            -(i + 1) if t.party == UNIDENTIFIED else names.setdefault(t.party, len(names))
            for i, t in enumerate(tracks)])
        found: dict[Any, dict[str, Any]] = {}
        entry = [_state_entry(t, picture.aircraft.get(t.state.aircraft_id), at, i)
                 for i, t in enumerate(tracks)]
        enc = detect_conflicts(lat, lon, alt, gs, trk, vs, party,
                               horizontal_m=profile.horizontal_m, vertical_m=profile.vertical_m,
                               look_ahead_s=profile.look_ahead_s,
                               same_party=self.line.settings.same_party_conflicts)
        for k in range(len(enc)):
            i, j = int(enc.i[k]), int(enc.j[k])
            kind = (AlertKind.LOSS_OF_SEPARATION if enc.lost_now[k] else AlertKind.CONFLICT)
            key = alert_key(kind.value, tracks[i].state.aircraft_id,
                            tracks[j].state.aircraft_id)
            found[key] = {"aircraft": [entry[i], entry[j]], "encounter": {
                "t_in_s": round(float(enc.t_in[k]), 1), "t_out_s": round(float(enc.t_out[k]), 1),
                "tcpa_s": round(float(enc.tcpa[k]), 1), "dcpa_m": round(float(enc.dcpa_m[k]), 1),
                "vertical_at_cpa_m": round(float(enc.vertical_at_cpa_m[k]), 1),
                "lost_now": bool(enc.lost_now[k])}, "profile": profile.name}
        volumes, owners = [], []
        for c in picture.constraints:
            for v in c.volumes:
                volumes.append(v)
                owners.append(c)
        if volumes:
            inc = detect_incursions(lat, lon, alt, gs, trk, vs, volumes, now=now,
                                    look_ahead_s=profile.look_ahead_s)
            for k in range(len(inc)):
                i, c = int(inc.track_index[k]), owners[int(inc.volume_index[k])]
                if not c.applies_to_party(tracks[i].party):
                    continue
                key = alert_key(AlertKind.CONSTRAINT_INCURSION.value,
                                tracks[i].state.aircraft_id, c.id)
                entry_s = round(float(inc.time_to_entry_s[k]), 1)
                held = found.get(key)
                if held is None or entry_s < held["incursion"]["time_to_entry_s"]:
                    found[key] = {"aircraft": [entry[i]], "constraint": {
                        "id": c.id, "name": c.name, "kind": c.kind.value,
                        "authority": c.authority},
                        "incursion": {"inside_now": bool(inc.inside_now[k]),
                                      "time_to_entry_s": entry_s}}
        for i, t in enumerate(tracks):
            operation = self._tied_operation(t, picture)
            if operation is not None and self._outside_one(t, operation, at, i):
                key = alert_key(AlertKind.NONCONFORMANCE.value, t.state.aircraft_id,
                                operation.id)
                found[key] = {"aircraft": [entry[i]], "operation_id": operation.id,
                              "operation_owner": operation.owner}
        return found

    @staticmethod
    def _tied_operation(track: Track, picture: Picture) -> Operation | None:
        aircraft = picture.aircraft.get(track.state.aircraft_id)
        if aircraft is None or aircraft.operation_id is None:
            return None
        operation = picture.operations.get(aircraft.operation_id)
        return operation if operation is not None and operation.state in _MONITORED else None

    @staticmethod
    def _outside_one(track: Track, operation: Operation, at: Positions, i: int) -> bool:
        lat, lon, alt, t = at
        return bool(outside_volumes(lat[i:i + 1], lon[i:i + 1], alt[i:i + 1], t[i:i + 1],
                                    operation.volumes)[0])

    def _outside(self, tracks: list[Track], picture: Picture, at: Positions) -> dict[str, bool]:
        """Per tied operation: is any of its aircraft outside all its volumes?"""
        outside: dict[str, bool] = defaultdict(bool)
        for i, t in enumerate(tracks):
            operation = self._tied_operation(t, picture)
            if operation is not None:
                outside[operation.id] |= self._outside_one(t, operation, at, i)
        return dict(outside)

    # recording -------------------------------------------------------------------------------
    async def _apply_conformance(
        self, repo: Repository, operation_id: str, new_state: str, now: float
    ) -> None:
        operation = await repo.operation(operation_id)
        if operation is None or operation.state is OperationState.ENDED:
            return
        state = OperationState.ACTIVATED if new_state == "conforming" else OperationState(new_state)
        if state is operation.state:
            return
        changed = replace(operation, state=state, ovn=new_ovn(),
                          version=operation.version + 1, updated_at=now)
        await repo.update_operation(changed)
        await tell_every_party(repo, "operation.state", now, {
            "operation_id": operation.id, "owner": operation.owner,
            "state": state.value, "previous_state": operation.state.value,
            "ovn": changed.ovn})

    def _alert_after(self, transition: Transition, now: float) -> Alert:
        """The alert's record once ``transition`` has happened."""
        details: dict[str, Any] = transition.payload
        previous = self._alerts.get(transition.alert_id)
        if transition.kind == "raised" or previous is None:
            parties = {a["party"] for a in details["aircraft"] if a["party"] != UNIDENTIFIED}
            if "constraint" in details:
                parties.add(details["constraint"]["authority"])
            return Alert(transition.alert_id, AlertKind(transition.key[0]), tuple(transition.key),
                         tuple(sorted(parties)), AlertState.RAISED, now, now, None, details)
        if transition.kind == "updated":
            return replace(previous, details=details, updated_at=now)
        return replace(previous, state=AlertState.CLEARED, updated_at=now, cleared_at=now)


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
