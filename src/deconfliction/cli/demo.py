"""The demo scenario: a day of sorties over northern Syria (fictional; places real).

Four parties: two air operations centres (``west-aoc``, ``east-aoc``), the observer mission
(``observer-mission``, an authority) that closes the airspace over Aleppo to every military
flight — the October 2016 UN draft — and a ``monitor`` that watches everything. The day was
filed the evening before (most of it strategically deconflicted; one sortie knowingly
overrides a lower-priority one); one short-notice sortie is declared as the demo starts.

Simulated aircraft (:mod:`deconfliction.feeds.simulation`) fly their operations and report once a
second through the service layer, in the server's process, on the wall clock. Their circuits
carry the scripted deviations, which come back every :data:`LAP_S` (times from the start):

* 0–35 s: GRACH 2 runs north at TEXACO 11's level (the override): a tactical conflict;
  ``west-aoc`` calls ``east-aoc`` (routine), which answers "will comply"; GRACH 2 turns away
  and the conflict clears.
* 15 s to ~4 min: the drone ORLAN 7 drifts east out of its declared circle: nonconformance
  (its operation nonconforming after 10 s, contingent after 60 s more).
* from ~30 s: SOKOL 1 turns from its Idlib patrol towards Aleppo: a constraint incursion,
  predicted, then inside the no-fly zone (~2:25–3:20), and out of its own box (~1–5 min); the
  mission calls every operator (urgent: it cannot know whose aircraft it is); ``west-aoc``
  answers at once, ``east-aoc`` receives the call and says nothing, so the line escalates it
  every deadline until ``east-aoc`` answers, four minutes late.
* at ~4:00 and ~9:00: BERKUT 5 and VIPER 21, in boxes 5.8 NM apart, head for the gap at the
  same level: a predicted conflict until BERKUT 5 turns back; another routine call.

``--real-traffic`` replays the real OpenSky sample instead (see :func:`replay_sample`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deconfliction.cli import heap
from deconfliction.feeds.simulation import (
    Circuit,
    SimulatedAircraft,
    patrol_circuit,
    turn_radius,
)
from deconfliction.model.alert import Alert, AlertKind
from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.message import BROADCAST, ReplyKind, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import Aircraft, StateReport
from deconfliction.model.units import KNOT_MPS, Seconds, flight_level
from deconfliction.model.volume import CircleFootprint, Footprint, PolygonFootprint, Volume
from deconfliction.service import alerts, constraints, hotline, operations, parties, tracks
from deconfliction.service.errors import LineError
from deconfliction.service.line import Line, LineSettings

if TYPE_CHECKING:
    from deconfliction.feeds.sbs import StateVector

log = logging.getLogger(__name__)

ALEPPO = (37.134, 36.202)  # city centre, lon/lat (scenarios/northern-syria-2016.md)
ALEPPO_RADIUS_M = 15_000.0  # the city spans ~15 km: the zone reaches past its edges
PARTIES = (("west-aoc", Role.OPERATOR), ("east-aoc", Role.OPERATOR),
           ("observer-mission", Role.AUTHORITY), ("monitor", Role.OBSERVER))
HOUR = 3600.0
FILED_AHEAD_S = 10 * HOUR  # the day's plan was filed the evening before
LAP_S = 600.0  # the scripted deviations come back every 10 minutes
BANK_DEG = 30.0  # patrol turns; scripted circuits set their own (their corners' radii)
REPORT_INTERVAL_S = 1.0  # each aircraft reports once a second
REPLY_AFTER_S = 10.0  # a duty officer's answer to a routine call
LATE_REPLY_S = 240.0  # east-aoc answers the mission's urgent call only after 4 minutes
# The OpenSky sample fills up over its first minutes (3 aircraft in its first 20 s, 26 at
# 12:15 UTC): --real-traffic starts there.
REAL_TRAFFIC_SKIP_S = 900.0


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> PolygonFootprint:
    return PolygonFootprint((((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1),
                              (lon0, lat0)),))


@dataclass(frozen=True, slots=True)
class Sortie:
    """One operation of the day and how its aircraft flies it.

    ``window_h`` is in hours from the demo's start. ``circuit`` (lon/lat waypoints, flown in
    ``lap_s``, ``start_s`` into the lap at the start, corners turned at ``turn_m``) scripts
    the aircraft; without one it flies a patrol pattern inside its footprint at
    ``ground_speed_kt``. ``overrides`` names sorties it knowingly conflicts with (its
    awareness key carries their ovn; its higher priority lets it through).
    """

    owner: str
    callsign: str
    footprint: Footprint
    band_fl: tuple[int, int]
    window_h: tuple[float, float]
    priority: int
    flight_level: int
    ground_speed_kt: float = 0.0
    circuit: tuple[tuple[float, float], ...] = ()
    lap_s: Seconds = LAP_S
    start_s: Seconds = 0.0
    turn_m: float = 0.0
    overrides: tuple[str, ...] = ()
    notes: str = ""

    def volume(self, start: float) -> Volume:
        low, high = self.band_fl
        t0, t1 = self.window_h
        return Volume(self.footprint, flight_level(low), flight_level(high),
                      start + t0 * HOUR, start + t1 * HOUR)

    def aircraft(self) -> SimulatedAircraft:
        """The simulated aircraft flying this sortie (time 0: the demo's start)."""
        aircraft_id = self.callsign.lower().replace(" ", "-")
        altitude = flight_level(self.flight_level)
        if self.circuit:
            return SimulatedAircraft.timed(
                aircraft_id, self.callsign, Circuit.through(self.circuit, self.turn_m),
                self.lap_s, altitude, start_s=self.start_s)
        speed = self.ground_speed_kt * KNOT_MPS
        pattern = patrol_circuit(self.footprint, turn_radius(speed, BANK_DEG))
        return SimulatedAircraft(aircraft_id, self.callsign, pattern, speed, altitude)


# The day. Figures from scenarios/northern-syria-2016.md: fighters 450–550 kt at FL200–FL350;
# tankers in racetracks at FL250–FL300; drones 70–120 kt at 10,000–20,000 ft.
STATIONS = (
    # west-aoc's tanker track over Manbij, 376 kt (its racetrack's 116 km in one lap)
    Sortie("west-aoc", "TEXACO 11", _box(37.70, 36.42, 38.40, 36.72), (250, 300), (-1, 11), 5,
           270, circuit=((37.78, 36.47), (38.32, 36.47), (38.32, 36.62), (37.78, 36.62)),
           start_s=50.0, turn_m=8_000.0),
    # east-aoc's ground-attack box south of it, overlapping the tanker's: higher priority,
    # filed knowing TEXACO 11's ovn; GRACH 2 runs north at the tanker's level once a lap
    Sortie("east-aoc", "GRACH 2", _box(37.80, 36.24, 38.35, 36.52), (240, 300), (-1, 11), 7,
           270, circuit=((37.83, 36.26), (37.83, 36.35), (37.97, 36.35), (38.04, 36.41),
                         (38.11, 36.35), (38.32, 36.35), (38.32, 36.26)), start_s=144.0,
           turn_m=4_500.0, overrides=("TEXACO 11",), notes="close air support (demo)"),
    # west-aoc's strike package over Tabqa, a racetrack every 5 minutes (469 kt) ...
    Sortie("west-aoc", "VIPER 21", _box(38.40, 35.70, 38.90, 36.00), (200, 350), (-1, 11), 8,
           300, circuit=((38.50, 35.77), (38.80, 35.77), (38.80, 35.91), (38.50, 35.91)),
           lap_s=300.0, start_s=240.0, turn_m=7_500.0),
    # ... and east-aoc's combat air patrol west of it, 5.8 NM clear (500 kt): every 5 minutes
    # both head for the gap at FL300, a predicted conflict until BERKUT 5 turns back
    Sortie("east-aoc", "BERKUT 5", _box(38.00, 35.68, 38.28, 36.02), (280, 320), (-1, 11), 6,
           300, circuit=((38.03, 35.72), (38.03, 35.98), (38.14, 35.98), (38.25, 35.86),
                         (38.14, 35.72)), lap_s=300.0, start_s=192.0, turn_m=5_500.0),
    # east-aoc's Idlib patrol; SOKOL 1 dashes into the Aleppo zone once a lap
    Sortie("east-aoc", "SOKOL 1", _box(36.45, 35.80, 36.85, 36.05), (200, 330), (-1, 11), 6,
           260, circuit=((36.50, 35.84), (36.50, 36.01), (36.78, 36.01), (37.03, 36.17),
                         (37.11, 36.06), (36.82, 35.95)), start_s=170.0, turn_m=6_000.0),
    # east-aoc's drone orbit over Kuweires; ORLAN 7 drifts east out of it once a lap
    Sortie("east-aoc", "ORLAN 7", CircleFootprint((37.583, 36.187), 12_000.0), (100, 200),
           (-2, 11), 3, 150, circuit=((37.62, 36.165), (37.77, 36.165), (37.77, 36.21),
                                      (37.62, 36.21)), start_s=164.0, turn_m=2_400.0),
)
LATER = (
    # later in the day: deconflicted by time, space or altitude from everything above
    Sortie("west-aoc", "VIPER 23", _box(38.80, 35.85, 39.20, 36.10), (200, 350), (3, 5), 8,
           280, ground_speed_kt=480),
    Sortie("east-aoc", "GRACH 4", _box(37.85, 36.45, 38.15, 36.65), (320, 360), (2, 4), 4,
           340, ground_speed_kt=420),
    Sortie("east-aoc", "SOKOL 3", _box(36.45, 35.80, 36.85, 36.05), (200, 330), (6, 8), 6,
           280, ground_speed_kt=500),
)
# declared as the demo starts, opening two minutes later: short notice (< 1 h), in clear air
SHORT_NOTICE = Sortie("west-aoc", "REAPER 3", _box(39.90, 35.20, 40.30, 35.45), (240, 280),
                      (2 / 60, 6), 4, 260, ground_speed_kt=110, notes="short-notice ISR (demo)")


def no_fly_zone(time_start: float, time_end: float) -> Volume:
    """What the mission closes: every military flight within 15 km of Aleppo, up to FL600."""
    return Volume(CircleFootprint(ALEPPO, ALEPPO_RADIUS_M), 0.0, flight_level(600),
                  time_start, time_end)


@dataclass(frozen=True, slots=True)
class Demo:
    """What seeding made: the parties and tokens, each sortie's operation id, the zone's id;
    ``start`` (UTC seconds) is the scenario's time 0."""

    start: float
    parties: dict[str, Party]
    tokens: dict[str, str]
    operations: dict[str, str]  # callsign → operation id
    no_fly_zone: str
    sorties: tuple[Sortie, ...] = STATIONS + LATER + (SHORT_NOTICE,)


async def seed(line: Line, start: float) -> Demo:
    """Parties, the Aleppo no-fly zone and the day's declarations (filed the evening before),
    then the short-notice sortie (declared at ``start``)."""
    filed = start - FILED_AHEAD_S
    tokens: dict[str, str] = {}
    members: dict[str, Party] = {}
    for name, role in PARTIES:
        members[name], tokens[name] = await parties.add_party(line, name, role, filed)
    zone = await constraints.publish_constraint(line, members["observer-mission"],
        constraints.PublishConstraint(
            kind=ConstraintKind.NO_FLY, name="Aleppo: no military flights",
            volumes=(no_fly_zone(filed, filed + 29 * 86400.0),),
        ), filed)
    declared: dict[str, Operation] = {}
    for sortie, when in [(s, filed) for s in STATIONS + LATER] + [(SHORT_NOTICE, start)]:
        done = await operations.declare_operation(
            line, members[sortie.owner], operations.DeclareOperation(
                volumes=(sortie.volume(start),), priority=sortie.priority,
                key=tuple(declared[c].ovn for c in sortie.overrides),
                callsigns=(sortie.callsign,), notes=sortie.notes), when)
        declared[sortie.callsign] = done.operation
    return Demo(start, members, tokens, {c: o.id for c, o in declared.items()},
                zone.value.id)


# --- the simulated aircraft -----------------------------------------------------------------

async def activate(line: Line, demo: Demo, sortie: Sortie, now: float) -> None:
    """The owner activates the sortie's operation as its aircraft gets airborne (ASTM
    F3548-21: accepted → activated), carrying the ovn of whatever it knowingly overrides."""
    owner = demo.parties[sortie.owner]
    operation, _ = await operations.get_operation(line, owner, demo.operations[sortie.callsign])
    key = []
    for callsign in sortie.overrides:
        other, _ = await operations.get_operation(line, owner, demo.operations[callsign])
        key.append(other.ovn)
    await operations.declare_operation(line, owner, operations.DeclareOperation(
        volumes=operation.volumes, priority=operation.priority,
        state=OperationState.ACTIVATED, key=tuple(key), callsigns=operation.callsigns,
        notes=operation.notes, operation_id=operation.id, ovn=operation.ovn), now)


async def fly(line: Line, demo: Demo, stop: asyncio.Event) -> None:
    """Register every sortie's aircraft, then report each airborne one (its operation's window
    is open) once a second until ``stop``; its owner activates the operation first."""
    fleet = [(s, s.aircraft()) for s in demo.sorties]
    for sortie, aircraft in fleet:
        await tracks.register_aircraft(line, demo.parties[sortie.owner], Aircraft(
            aircraft.aircraft_id, sortie.owner, None, sortie.callsign,
            demo.operations[sortie.callsign]))
    # an operation overridden by a higher-priority one cannot be changed (activated) while that
    # conflict stands: TEXACO 11 flies as accepted, under GRACH 2's override
    overridden = {c for s in demo.sorties for c in s.overrides}
    airborne: set[str] = set()
    while not stop.is_set():
        now = line.clock()
        batches: dict[str, list[StateReport]] = defaultdict(list)
        for sortie, aircraft in fleet:
            t0, t1 = sortie.window_h
            if not demo.start + t0 * HOUR <= now < demo.start + t1 * HOUR:
                continue
            if sortie.callsign not in airborne:
                airborne.add(sortie.callsign)
                try:
                    if sortie.callsign not in overridden:
                        await activate(line, demo, sortie, now)
                except LineError as error:
                    log.warning("demo: %s stays accepted: %s", sortie.callsign, error.detail)
            batches[sortie.owner].append(aircraft.report(now - demo.start, at=now))
        for owner, reports in batches.items():
            try:
                await tracks.report_tracks(line, demo.parties[owner], reports, now)
            except Exception:  # one lost second of reports must not stop the scenario
                log.exception("demo: reporting %s's aircraft failed", owner)
        await _sleep_until(stop, now + REPORT_INTERVAL_S, line)


async def _sleep_until(stop: asyncio.Event, when: float, line: Line) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, when - line.clock()))
    except TimeoutError:
        pass


# --- the hotline ----------------------------------------------------------------------------

def _where(state: dict[str, Any]) -> str:
    """A position as a duty officer reads it out: 36.10N 36.95E FL270 heading 060."""
    return (f"{state['lat']:.2f}N {state['lon']:.2f}E "
            f"FL{round(state['altitude_m'] / 30.48):03d} "
            f"heading {round(state['track_deg']) % 360:03d}")


def _theirs(details: dict[str, Any]) -> dict[str, Any]:
    return next(a["state"] for a in details["aircraft"] if not a.get("own"))


@dataclass(slots=True)
class HotlineScript:
    """The duty officers' side of the demo: who calls whom about which alert, and when each
    answers. ``step`` is called once a second; the state is what has been done already."""

    line: Line
    demo: Demo
    handled: set[str] = field(default_factory=set)
    due: list[tuple[float, Callable[[], Awaitable[object]]]] = field(default_factory=list)

    def later(self, when: float, action: Callable[[], Awaitable[object]]) -> None:
        self.due.append((when, action))

    async def reply(self, party: str, message_id: str, kind: ReplyKind, text: str) -> None:
        await hotline.reply(self.line, self.demo.parties[party], message_id, kind, text,
                            self.line.clock())

    async def opening(self, now: float) -> None:
        """The mission reminds everyone of the zone; both operators acknowledge."""
        sent = await hotline.send_message(
            self.line, self.demo.parties["observer-mission"], to=BROADCAST,
            urgency=Urgency.ROUTINE, subject="Aleppo no-fly zone in force",
            body="No military flights within 15 km of Aleppo city centre, surface to FL600, "
                 "until further notice. Acknowledge.", refs=[self.demo.no_fly_zone], now=now)
        message = sent.value[0]
        for k, party in enumerate(("west-aoc", "east-aoc")):
            self.later(now + REPLY_AFTER_S * (k + 1), partial(
                self.reply, party, message.id, ReplyKind.ACKNOWLEDGED, "Acknowledged."))

    async def on_conflict(self, alert: Alert, details: dict[str, Any], now: float) -> None:
        """West sees another party's aircraft closing on its own: a routine call to east,
        which answers that it will turn away (and the script has it do so)."""
        own = next(a for a in details["aircraft"] if a.get("own"))
        encounter = details["encounter"]
        sent = await hotline.send_message(
            self.line, self.demo.parties["west-aoc"], to="east-aoc", urgency=Urgency.ROUTINE,
            subject=f"{own['callsign']}: your traffic closing",
            body=f"Traffic at {_where(_theirs(details))} is closing on our "
                 f"{own['callsign']} at {_where(own['state'])}: predicted miss "
                 f"{encounter['dcpa_m'] / 1852:.1f} NM in {encounter['tcpa_s']:.0f} s. "
                 "Request it turn away.",
            refs=[alert.id, self.demo.operations[own["callsign"]]], now=now)
        message = sent.value[0]
        self.later(now + REPLY_AFTER_S, lambda: self.reply(
            "east-aoc", message.id, ReplyKind.WILL_COMPLY, "Turning away now."))

    async def on_incursion(self, alert: Alert, details: dict[str, Any], now: float) -> None:
        """The mission cannot tell whose aircraft it is: an urgent call to every operator.
        West answers at once; east receives it and stays silent, then answers late."""
        sent = await hotline.send_message(
            self.line, self.demo.parties["observer-mission"], to=BROADCAST,
            urgency=Urgency.URGENT, subject="Aircraft entering the Aleppo no-fly zone",
            body=f"An aircraft at {_where(_theirs(details))} is entering, or about to enter, "
                 "the Aleppo no-fly zone. Whose is it? Turn it away now and reply.",
            refs=[alert.id, self.demo.no_fly_zone], now=now)
        message = sent.value[0]
        east = self.demo.parties["east-aoc"]  # its console lists the call: delivered
        self.later(now + 2.0, lambda: hotline.list_messages(
            self.line, east, limit=20, now=self.line.clock()))
        self.later(now + REPLY_AFTER_S, lambda: self.reply(
            "west-aoc", message.id, ReplyKind.ACKNOWLEDGED, "Not ours: no west-aoc aircraft "
            "within 30 km of Aleppo."))
        self.later(now + LATE_REPLY_S, lambda: self.reply(
            "east-aoc", message.id, ReplyKind.ACKNOWLEDGED,
            "SOKOL 1: navigation error, it has left the zone."))

    async def step(self, now: float) -> None:
        """Call about every new alert, then do whatever has come due."""
        watchers: Sequence[tuple[str, AlertKind, Callable[..., Awaitable[None]]]] = (
            ("west-aoc", AlertKind.CONFLICT, self.on_conflict),
            ("west-aoc", AlertKind.LOSS_OF_SEPARATION, self.on_conflict),
            ("observer-mission", AlertKind.CONSTRAINT_INCURSION, self.on_incursion))
        seen: dict[str, list[tuple[Alert, dict[str, Any]]]] = {}
        for party, kind, action in watchers:
            if party not in seen:
                seen[party] = await alerts.list_alerts(
                    self.line, self.demo.parties[party], active_only=True, limit=50)
            for alert, details in seen[party]:
                if alert.kind is kind and alert.id not in self.handled:
                    self.handled.add(alert.id)
                    if kind is AlertKind.CONSTRAINT_INCURSION or (
                            {"west-aoc", "east-aoc"} <= set(alert.parties)):
                        await action(alert, details, now)
        ready = [d for d in self.due if d[0] <= now]
        self.due = [d for d in self.due if d[0] > now]
        for _, due in ready:
            try:
                await due()
            except LineError as error:  # e.g. a console user answered first: it stands
                log.warning("demo: a scripted hotline action failed: %s", error.detail)


async def talk(line: Line, demo: Demo, stop: asyncio.Event) -> None:
    """Run the hotline script once a second until ``stop``."""
    script = HotlineScript(line, demo)
    opened = False
    while not stop.is_set():
        now = line.clock()
        try:
            if not opened and now >= demo.start + 8.0:
                opened = True
                await script.opening(now)
            await script.step(now)
        except Exception:  # a failed call is the duty officer's problem, not the line's
            log.exception("demo: hotline script step failed")
        await _sleep_until(stop, now + 1.0, line)


# --- real traffic ---------------------------------------------------------------------------

async def replay_sample(line: Line, states: Sequence[StateVector], stop: asyncio.Event) -> None:
    """Feed recorded ADS-B states (in time order) into the line at their own pace, shifted
    so that the recording starts now, over and over."""
    from deconfliction.feeds.pipeline import feed_state

    if not states:
        return
    first, last = states[0].time, states[-1].time
    shift = line.clock() - first
    k = 0
    while not stop.is_set():
        now = line.clock()
        batch = []
        while k < len(states) and states[k].time + shift <= now:
            s = feed_state(states[k])
            batch.append(replace(s, report=replace(s.report, time=states[k].time + shift)))
            k += 1
        if batch:
            try:
                await tracks.ingest_feed(line, batch, now)
            except Exception:
                log.exception("demo: feeding the recording failed")
        if k == len(states):  # from the top again, a minute after the end
            k, shift = 0, shift + (last - first) + 60.0
        await _sleep_until(stop, now + REPORT_INTERVAL_S, line)


def _load_sample() -> list[StateVector]:
    """The OpenSky sample's airborne states in time order, from :data:`REAL_TRAFFIC_SKIP_S`
    into the recording."""
    from deconfliction.feeds.opensky_sample import fetch_sample, load_sample
    from deconfliction.feeds.pipeline import states_from_sample

    sample = load_sample(fetch_sample())
    begin = float(sample.time_s[0]) + REAL_TRAFFIC_SKIP_S
    return sorted((s for s in states_from_sample(sample) if not s.on_ground and s.time >= begin),
                  key=lambda s: s.time)


# --- running it -----------------------------------------------------------------------------

def run_demo(
    db: Path, host: str, port: int, *, settings: LineSettings | None = None,
    real_traffic: bool = False,
) -> int:
    """Fresh database, seeded day, tokens printed; then the API served with the simulated
    aircraft (or the real recording) and the hotline script running in the server."""
    from deconfliction.api.app import create_app
    from deconfliction.api.server import serve
    from deconfliction.store.sqlite import SqliteStore

    settings = settings or LineSettings()
    states: list[StateVector] = []
    if real_traffic:
        print("loading the OpenSky sample …", file=sys.stderr, flush=True)
        states = _load_sample()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = SqliteStore.open(db)
    start = time.time()
    try:
        demo = asyncio.run(_seed_and_close(Line(store, settings), start))
    except LineError as error:
        print(f"demo: seeding failed: {error.detail}", file=sys.stderr)
        return 1
    line = Line(SqliteStore(db), settings)

    async def aircraft(line: Line, stop: asyncio.Event) -> None:
        if real_traffic:
            await replay_sample(line, states, stop)
        else:
            await fly(line, demo, stop)

    async def duty_officers(line: Line, stop: asyncio.Event) -> None:
        await talk(line, demo, stop)

    url = f"http://{host}:{port}"
    print(f"\ndeconfliction demo on {url}  (API docs: {url}/docs, database: {db})\n")
    for name, role in PARTIES:
        print(f"  {name:<18} {role.value:<10} {demo.tokens[name]}")
    if real_traffic:
        print("\nreal traffic: OpenSky Network ADS-B state vectors around Paris, 2021-10-07 "
              "12:15-15:00 UTC,\nreplayed at their own pace as if now, over and over. No "
              "party claims those aircraft,\nso their alerts go to observers: sign in as "
              "monitor.")
    else:
        print("\nsimulated aircraft over northern Syria, on a 10-minute script: a conflict "
              "from the start,\na drone out of its volume at 0:15, an aircraft heading "
              "into the Aleppo zone at 0:30\n(urgent call, unanswered, escalated), another "
              "conflict at 4:00.")
    print(f"\nconsole: {url}/  (sign in with a token; monitor sees every aircraft)\n"
          f"or try:  curl -H 'Authorization: Bearer <token>' {url}/v1/alerts\n", flush=True)
    app = create_app(line, tasks=(aircraft, duty_officers))
    heap.settle()  # as ``serve`` does: full collections then skip what start-up built
    serve(app, host, port, settings.limits, graceful_shutdown_s=3)  # as ``serve`` does
    return 0


async def _seed_and_close(line: Line, start: float) -> Demo:
    try:
        return await seed(line, start)
    finally:
        await line.store.close()
