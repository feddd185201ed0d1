"""The tactical detection cycle: the live picture in, alerts and events out, once a second.

Each cycle extrapolates every track to now, drops tracks silent too long, and finds
predicted losses of separation (engine.tactical), constraint incursions (engine.incursion)
and tracks outside their operation's volumes (engine.conformance). The alert book
(engine.alerting) turns detections into raised/updated/cleared alerts — 2 of the last 4 cycles
to raise, 5 s of hysteresis to clear — which are stored, and told to each party involved by
need-to-know. One process runs the cycle (several processes come with the scale-out issue).

A cycle's cost does not grow with the pairs a party stacks: of the detections that are no raised
alert yet, each party's most urgent are handed to the book, as many as it has room for
(`Limits.alerts_per_cycle` a cycle, `Limits.active_alerts` at once, chosen with numpy on the
detectors' arrays); the book asks before each raise, update and clear (`_Budget`). The rest stay
detected and are told as room frees; a party (and the observers) is told once when its alerts
start being held back (``alert.capped``) and when they no longer are (``alert.uncapped``). The
cycle's writes are committed in units of a few dozen records, so no other party's write waits
long behind them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass, field, replace
from functools import partial
from operator import attrgetter
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from deconfliction.engine.alerting import (
    AlertBook,
    Transition,
    TransitionKind,
    alert_key,
    most_urgent,
)
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
from deconfliction.model.limits import Limits
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

# Records (alerts, dropped tracks, notices) written in one unit of work: an alert with its
# leaves and events costs 2-4 ms of the single writer (SQLite, measured at load ~6), so a unit
# holds it for some tens of ms and a party's write queued behind the cycle waits about that.
_WRITES_PER_UNIT = 20
# A party's alerts count as no longer held back after this long without any held back (one
# alert.capped ... alert.uncapped per episode, not one per cycle).
_UNCAPPED_AFTER_S = 10.0
# Group code of the unidentified pseudo-party in `DetectionCycle._detect`'s arrays.
_UNIDENTIFIED_GROUP = 0

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
    held_back: dict[str, int] = field(default_factory=dict)
    """Per party, detections not handed to the book this cycle (no room: `most_urgent`)."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What a cycle did: how many tracks it saw and dropped, its alert transitions, and per
    party how many detections it held back for want of room (told in later cycles)."""

    tracks: int
    dropped: int
    transitions: list[Transition]
    held_back: dict[str, int] = field(default_factory=dict)


_Write = tuple[int, Callable[[Repository], Awaitable[None]], Alert | None]
"""One of a cycle's writes: its weight in records, the write, and the alert it stores."""


def _concerned(details: AlertDetails) -> tuple[str, ...]:
    """The parties an alert concerns, each with its own room (`_Budget`): its aircraft's
    parties and, for an incursion, the constraint's authority; an alert of unidentified
    aircraft only (observers') counts as the unidentified pseudo-party's."""
    parties = {s.party for s in details.sides if s.party != UNIDENTIFIED}
    if isinstance(details, Incursion):
        parties.add(details.constraint.authority)
    return tuple(sorted(parties)) or (UNIDENTIFIED,)


class _Budget:
    """What one cycle may still tell each party: raises and updates (`Limits.alerts_per_cycle`,
    raises only while under `Limits.active_alerts`), and as many clears. Asked by the book
    before each transition; an alert concerning two parties goes while either has room and
    counts against those that have."""

    def __init__(self, limits: Limits, active: Mapping[str, int]) -> None:
        self.per_cycle = limits.alerts_per_cycle
        self.cap = limits.active_alerts
        self.active: Counter[str] = Counter(active)
        self.told: Counter[str] = Counter()
        self.cleared: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, key: Any, details: AlertDetails, kind: TransitionKind) -> bool:
        parties = _concerned(details)
        if kind == "cleared":
            room = [p for p in parties if self.cleared[p] < self.per_cycle]
            self.cleared.update(room)
            return bool(room)
        room = [p for p in parties if self.told[p] < self.per_cycle
                and (kind == "updated" or self.active[p] < self.cap)]
        if not room:
            self.refused.update(parties)
            return False
        self.told.update(room)
        if kind == "raised":
            self.active.update(parties)
        return True


def _pair_groups(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parties' group codes of two-sided detections as `most_urgent` takes them: the
    unidentified pseudo-party only when no party is concerned, a party once, -1 for none."""
    u = _UNIDENTIFIED_GROUP
    b = np.where((b == u) | (b == a), -1, b)
    swap = (a == u) & (b >= 0)
    return np.where(swap, b, a), np.where(swap, -1, b)


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
        self._capped: dict[str, float] = {}  # party -> last time some of its alerts held back

    async def _restore(self) -> None:
        # every active alert (the caps bound them; the store's default limit would not)
        for a in await self.line.store.interact(
                lambda r: r.alerts(active_only=True, limit=1 << 40)):
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
        active = Counter(p for a in self._alerts.values() for p in (a.parties or (UNIDENTIFIED,)))
        raised = frozenset(a.key for a in self._alerts.values())
        # the detectors are compiled, GIL-free numpy/numba work: off the event loop, so the
        # API keeps answering while a large picture (or the first, compiling cycle) runs
        detections = (await asyncio.to_thread(self._detect, live, picture, now, active, raised)
                      if live else Detections({}, {}))
        changes = self.conformance.step(now, detections.outside)
        budget = _Budget(settings.limits, active)
        transitions = self.book.step(now, detections.found, admit=budget.admit)
        held_back = Counter(detections.held_back) + budget.refused
        # the records are made before the transactions, which may run more than once
        alerts = [self._alert_after(t, now) for t in transitions]

        writes: list[_Write] = []
        for start in range(0, len(dropped), _WRITES_PER_UNIT):
            part = dropped[start:start + _WRITES_PER_UNIT]
            writes.append((len(part), partial(self._drop, dropped=part, now=now), None))
        for change in changes:
            writes.append((1, partial(self._apply_conformance, operation_id=change.operation_id,
                                      state=change.new_state, now=now), None))
        for transition, alert in zip(transitions, alerts, strict=True):
            writes.append((1, partial(commit_alert, transition=transition.kind, alert=alert,
                                      now=now), alert))
        for kind, data in self._capped_notices(held_back, now):
            writes.append((1, partial(_tell_capped, kind=kind, data=data, now=now), None))
        await self._commit(writes)
        return CycleReport(len(live), len(dropped), transitions, dict(held_back))

    async def _commit(self, writes: list[_Write]) -> None:
        """Run ``writes`` (weight, write, its alert) in units of about `_WRITES_PER_UNIT`
        records, one after the other: another party's write waits behind one unit at most,
        never behind the whole cycle. An alert is held as active once its unit committed."""
        start = 0
        while start < len(writes):
            end, weight = start, 0
            while end < len(writes) and (end == start or weight + writes[end][0]
                                         <= _WRITES_PER_UNIT):
                weight += writes[end][0]
                end += 1
            unit = writes[start:end]

            async def work(repo: Repository, unit: list[_Write] = unit) -> None:
                for _, write, _alert in unit:
                    await write(repo)

            await self.line.store.transact(work)
            for _, _, alert in unit:
                if alert is None:
                    continue
                if alert.state is AlertState.CLEARED:
                    self._alerts.pop(alert.id, None)
                else:
                    self._alerts[alert.id] = alert
            start = end

    async def _drop(self, repo: Repository, dropped: list[Track], now: float) -> None:
        """Drop these silent tracks, each with an event for its party, unless reported since
        the picture was read."""
        settings = self.line.settings
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

    def _capped_notices(self, held_back: Mapping[str, int],
                        now: float) -> list[tuple[str, dict[str, Any]]]:
        """The ``alert.capped`` / ``alert.uncapped`` notices of this cycle: once when a party's
        alerts start being held back, once when none has been for `_UNCAPPED_AFTER_S`."""
        limits = self.line.settings.limits
        notices: list[tuple[str, dict[str, Any]]] = []
        for party, count in sorted(held_back.items()):
            if count <= 0:
                continue
            if party not in self._capped:
                log.warning("alerts concerning %s capped: %d detections held back this cycle "
                            "(alerts_per_cycle %d, active_alerts %d); told as room frees",
                            party, count, limits.alerts_per_cycle, limits.active_alerts)
                notices.append(("alert.capped", {
                    "party": party, "held_back": count,
                    "alerts_per_cycle": limits.alerts_per_cycle,
                    "active_alerts": limits.active_alerts}))
            self._capped[party] = now
        for party, last in sorted(self._capped.items()):
            if now - last >= _UNCAPPED_AFTER_S:
                del self._capped[party]
                log.info("alerts concerning %s no longer capped", party)
                notices.append(("alert.uncapped", {"party": party}))
        return notices

    # detection -------------------------------------------------------------------------------
    def _detect(self, tracks: list[Track], picture: Picture, now: float,
                active: Mapping[str, int], raised: Set[Any]) -> Detections:
        """Run the three detectors on one record of the live tracks, extrapolated to ``now``,
        and keep what this cycle may tell: every detection of a ``raised`` alert, and of the
        others each party's most urgent, as many as it has room for (``active``: its raised
        alerts). Only the kept ones become records: no Python work per stacked pair."""
        settings = self.line.settings
        profile, limits = settings.profile, settings.limits
        at = _track_arrays(tracks, now)
        n = len(tracks)
        names = [t.key for t in tracks]  # the aircraft's names in alert keys
        row = {name: i for i, name in enumerate(names)}
        groups: dict[str, int] = {UNIDENTIFIED: _UNIDENTIFIED_GROUP}
        track_group = np.array([groups.setdefault(t.party, len(groups)) for t in tracks],
                               dtype=np.int64)
        constraints = picture.constraints
        authority = np.array([groups.setdefault(c.authority, len(groups)) for c in constraints],
                             dtype=np.int64)
        sides: dict[int, AircraftSide] = {}

        def side(i: int) -> AircraftSide:
            known = sides.get(i)
            if known is None:
                known = sides[i] = _side(tracks[i], picture.aircraft.get(names[i]), at, i)
            return known

        # conflicts and losses of separation: one row per pair
        enc = detect_conflicts(at, horizontal_m=profile.horizontal_m, vertical_m=profile.vertical_m,
                               look_ahead_s=profile.look_ahead_s,
                               same_party=settings.same_party_conflicts)
        lost = AlertKind.LOSS_OF_SEPARATION.value
        pair_codes = [(min(row[k[1]], row[k[2]]) * n + max(row[k[1]], row[k[2]])) * 2
                      + (k[0] == lost) for k in raised
                      if k[0] in (lost, AlertKind.CONFLICT.value) and k[1] in row and k[2] in row]
        enc_held = np.isin((enc.i * n + enc.j) * 2 + enc.lost_now,
                           np.array(pair_codes, dtype=np.int64))
        enc_a, enc_b = _pair_groups(track_group[enc.i], track_group[enc.j])

        # constraint incursions: one row per (aircraft, constraint binding its party)
        volumes, owner = [], []
        for c_index, c in enumerate(constraints):
            for v in c.volumes:
                volumes.append(v)
                owner.append(c_index)
        inc_track = inc_constraint = np.empty(0, dtype=np.int64)
        inc_entry: npt.NDArray[np.float64] = np.empty(0)
        inc_inside = np.empty(0, dtype=np.bool_)
        if volumes:
            inc = detect_incursions(at, volumes, look_ahead_s=profile.look_ahead_s)
            inc_track = np.asarray(inc.track_index, dtype=np.int64)
            inc_constraint = np.asarray(owner, dtype=np.int64)[inc.volume_index]
            inc_entry = np.round(np.asarray(inc.time_to_entry_s, dtype=np.float64), 1).astype(
                np.float64)
            inc_inside = np.asarray(inc.inside_now, dtype=np.bool_)
            # whether the constraint binds the aircraft's party: once per (constraint, party)
            g = len(groups)
            party_of = list(groups)
            combined = inc_constraint * g + track_group[inc_track]
            unique, inverse = np.unique(combined, return_inverse=True)
            binds = np.array([constraints[int(u) // g].applies_to_party(party_of[int(u) % g])
                              for u in unique.tolist()], dtype=np.bool_)[inverse.reshape(-1)]
            code = (inc_track * len(constraints) + inc_constraint)[binds]
            # an aircraft and a constraint of several volumes: the earliest entry
            earliest = np.lexsort((inc_entry[binds], code))
            first = earliest[np.r_[True, code[earliest][1:] != code[earliest][:-1]]
                             if code.size else []]  # no incursion that binds: nothing kept
            keep = np.flatnonzero(binds)[first]
            inc_track, inc_constraint = inc_track[keep], inc_constraint[keep]
            inc_entry, inc_inside = inc_entry[keep], inc_inside[keep]
        c_index_of = {c.id: k for k, c in enumerate(constraints)}
        incursion = AlertKind.CONSTRAINT_INCURSION.value
        inc_codes = [row[k[1]] * len(constraints) + c_index_of[k[2]] for k in raised
                     if k[0] == incursion and k[1] in row and k[2] in c_index_of]
        inc_held = np.isin(inc_track * len(constraints) + inc_constraint,
                           np.array(inc_codes, dtype=np.int64))
        inc_a, inc_b = _pair_groups(track_group[inc_track], authority[inc_constraint])

        # conformance: each tied track tested once; the alerts and the timers share the result
        operations: list[Operation] = []
        index: dict[str, int] = {}
        tied = np.full(n, -1, dtype=np.int64)
        for i, t in enumerate(tracks):
            operation = self._tied_operation(t, picture)
            if operation is not None:
                k = index.setdefault(operation.id, len(operations))
                if k == len(operations):
                    operations.append(operation)
                tied[i] = k
        excursion = np.flatnonzero(detect_excursions(at, tied, [o.volumes for o in operations]))
        outside = {o.id: False for o in operations}
        for k in np.unique(tied[excursion]).tolist():
            outside[operations[k].id] = True
        nonconformance = AlertKind.NONCONFORMANCE.value
        exc_codes = [row[k[1]] for k in raised if k[0] == nonconformance and k[1] in row
                     and tied[row[k[1]]] >= 0 and operations[tied[row[k[1]]]].id == k[2]]
        exc_held = np.isin(excursion, np.array(exc_codes, dtype=np.int64))

        # what to tell: the raised ones, then the most urgent each party has room for
        n_enc, n_inc = len(enc), inc_track.shape[0]
        group_a = np.concatenate([enc_a, inc_a, track_group[excursion]])
        group_b = np.concatenate([enc_b, inc_b, np.full(excursion.shape[0], -1, dtype=np.int64)])
        held = np.concatenate([enc_held, inc_held, exc_held])
        # twice a cycle's raises: a raise needs 2 of the last 4 cycles, so the next cycle's
        # are being confirmed while this cycle's are raised (the book admits the cap)
        room = np.zeros(len(groups), dtype=np.int64)
        for name, g in groups.items():
            room[g] = max(0, min(2 * limits.alerts_per_cycle,
                                 limits.active_alerts - active.get(name, 0)))
        chosen = most_urgent(
            np.concatenate([enc.t_in, inc_entry, np.zeros(excursion.shape[0])]),
            # a pair's predicted miss; an incursion or an excursion after pairs as urgent
            np.concatenate([enc.dcpa_m, np.full(n_inc + excursion.shape[0], np.inf)]),
            group_a, group_b, room, held=held)
        left = np.ones(held.shape[0], dtype=np.bool_)
        left[chosen] = False
        left &= ~held
        counts = (np.bincount(group_a[left], minlength=len(groups))
                  + np.bincount(group_b[left & (group_b >= 0)], minlength=len(groups)))
        held_back = {name: int(counts[g]) for name, g in groups.items() if counts[g]}

        found: dict[Any, AlertDetails] = {}
        for r in chosen.tolist():
            if r < n_enc:
                i, j = int(enc.i[r]), int(enc.j[r])
                kind = lost if enc.lost_now[r] else AlertKind.CONFLICT.value
                found[alert_key(kind, names[i], names[j])] = Encounter(
                    (side(i), side(j)), EncounterFigures(
                        round(float(enc.t_in[r]), 1), round(float(enc.t_out[r]), 1),
                        round(float(enc.tcpa[r]), 1), round(float(enc.dcpa_m[r]), 1),
                        round(float(enc.vertical_at_cpa_m[r]), 1), bool(enc.lost_now[r])),
                    profile.name)
            elif r < n_enc + n_inc:
                i, c = int(inc_track[r - n_enc]), constraints[int(inc_constraint[r - n_enc])]
                found[alert_key(incursion, names[i], c.id)] = Incursion(
                    side(i), ConstraintRef(c.id, c.name, c.kind.value, c.authority),
                    bool(inc_inside[r - n_enc]), float(inc_entry[r - n_enc]))
            else:
                i = int(excursion[r - n_enc - n_inc])
                operation = operations[int(tied[i])]
                found[alert_key(nonconformance, names[i], operation.id)] = Nonconformance(
                    side(i), operation.id, operation.owner)
        return Detections(found, outside, held_back)

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
            parties = tuple(p for p in _concerned(details) if p != UNIDENTIFIED)
            key = cast(tuple[str, ...], transition.key)  # alert_key's (kind, subject, other)
            return Alert(transition.alert_id, AlertKind(key[0]), key,
                         parties, AlertState.RAISED, now, now, None, details)
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


async def _tell_capped(repo: Repository, kind: str, data: dict[str, Any], now: float) -> None:
    """Tell ``kind`` (``alert.capped``/``alert.uncapped``) to the party it is about and to the
    observers: how many of its detections wait, never whose (`service.access`: a party reads
    its own alerts' counts; observers read everything)."""
    for party in await repo.parties():
        if party.active and (party.name == data["party"] or party.sees_everything):
            await repo.append_event(party.name, kind, now, data)


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
        line.live.cycle_times.append(elapsed)
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, interval - elapsed))
        except TimeoutError:
            pass
