"""Simulated aircraft: pure kinematics of circuits flown round and round at constant speed.

An aircraft flies a :class:`Circuit`: a closed path of straight legs and constant-radius turns,
made from waypoints whose corners are rounded with the aircraft's turn radius, in a local
azimuthal equidistant plane on WGS84 centred on the waypoints (:class:`LocalPlane`; within the
~100 km of a circuit its distances are exact to about 0.01 %). A rectangle rounded with half
its width is a racetrack, a square rounded with half its side is an orbit, and a deviation —
a dash into closed airspace, a drift out of a declared volume, a run at another party's
tanker — is just more waypoints, so it comes back every lap. A :class:`SimulatedAircraft`
flies one circuit at a constant ground speed and altitude; its state at any time is a pure
function of that time: no clock, no randomness, nothing global.

Examples
--------
An orbit of 5 km radius over Kuweires, flown at 60 m/s:

>>> orbit = Circuit.orbit((37.583, 36.187), 5_000.0)
>>> round(orbit.length)
31416
>>> drone = SimulatedAircraft("orlan-7", "ORLAN 7", orbit, 60.0, 4_500.0)
>>> round(drone.lap_s)
524
>>> r = drone.report(1_000.0)
>>> round(r.ground_speed_mps), r.altitude_m, r.time
(60, 4500.0, 1000.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely

from deconfliction.engine.footprint import footprint_centre, planarize
from deconfliction.engine.geodesy import WGS84, LocalPlane
from deconfliction.model.track import StateReport
from deconfliction.model.units import Degrees, Metres, MetresPerSecond, Seconds
from deconfliction.model.volume import CircleFootprint, Footprint

__all__ = [
    "GRAVITY_MPS2",
    "Leg",
    "Turn",
    "Circuit",
    "SimulatedAircraft",
    "turn_radius",
    "patrol_circuit",
]

XY = tuple[float, float]
"""A point in a circuit's plane: metres east and north of its centre."""

GRAVITY_MPS2 = 9.80665  # standard gravity (ISO 80000-3)
_HEADING_STEP_M = 50.0  # a track is the geodesic azimuth towards a point this far ahead


def turn_radius(ground_speed_mps: MetresPerSecond, bank_deg: Degrees = 30.0) -> Metres:
    """Radius of a level coordinated turn, r = v² / (g tan φ).

    >>> round(turn_radius(230.0))  # a fighter at ~450 kt, 30° bank
    9343
    """
    return ground_speed_mps**2 / (GRAVITY_MPS2 * math.tan(math.radians(bank_deg)))


@dataclass(frozen=True, slots=True)
class Leg:
    """A straight leg from ``start`` to ``end``."""

    start: XY
    end: XY

    @property
    def length(self) -> Metres:
        return math.dist(self.start, self.end)

    def at(self, s: Metres) -> tuple[float, float, float]:
        """Point ``s`` metres along, and the direction of travel (radians from east, CCW)."""
        (x0, y0), (x1, y1) = self.start, self.end
        f = s / self.length
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0), math.atan2(y1 - y0, x1 - x0)


@dataclass(frozen=True, slots=True)
class Turn:
    """An arc of ``radius`` round ``centre`` from polar angle ``start_angle`` through ``sweep``
    radians (positive: anticlockwise, a left turn)."""

    centre: XY
    radius: Metres
    start_angle: float
    sweep: float

    @property
    def length(self) -> Metres:
        return self.radius * abs(self.sweep)

    def at(self, s: Metres) -> tuple[float, float, float]:
        side = 1.0 if self.sweep > 0 else -1.0
        angle = self.start_angle + side * s / self.radius
        return (self.centre[0] + self.radius * math.cos(angle),
                self.centre[1] + self.radius * math.sin(angle), angle + side * math.pi / 2)


Segment = Leg | Turn


@dataclass(frozen=True, slots=True, eq=False)
class Circuit:
    """A closed path of legs and turns in ``plane``, flown from its first segment's start."""

    plane: LocalPlane
    segments: tuple[Segment, ...]

    @property
    def length(self) -> Metres:
        return sum(seg.length for seg in self.segments)

    @classmethod
    def through(cls, waypoints: Sequence[tuple[float, float]], turn_radius_m: Metres) -> Circuit:
        """The closed polygon through ``waypoints`` ([lon, lat], at least 3, not repeated at
        the end) with every corner rounded by a turn of ``turn_radius_m``.

        Raises ValueError when a leg is too short for the turns at its ends.
        """
        if len(waypoints) < 3:
            raise ValueError("a circuit needs at least 3 waypoints")
        lon = [p[0] for p in waypoints]
        lat = [p[1] for p in waypoints]
        plane = LocalPlane(sum(lon) / len(lon), sum(lat) / len(lat))
        x, y = plane.forward(lon, lat)
        return cls.rounded(plane, list(zip(x.tolist(), y.tolist(), strict=True)), turn_radius_m)

    @classmethod
    def rounded(cls, plane: LocalPlane, corners: Sequence[XY], radius: Metres) -> Circuit:
        """The closed polygon ``corners`` (plane metres) with corners rounded by ``radius``."""
        n = len(corners)
        turns: list[tuple[XY, XY, Turn | None]] = []  # per corner: tangent in, tangent out
        cuts: list[float] = []  # per corner: how much of each leg next to it its turn takes
        for i in range(n):
            before, here, after = corners[i - 1], corners[i], corners[(i + 1) % n]
            a = _unit(before, here)
            b = _unit(here, after)
            delta = math.atan2(a[0] * b[1] - a[1] * b[0], a[0] * b[0] + a[1] * b[1])
            d = radius * math.tan(abs(delta) / 2)
            cuts.append(d)
            t_in = (here[0] - a[0] * d, here[1] - a[1] * d)
            t_out = (here[0] + b[0] * d, here[1] + b[1] * d)
            if abs(delta) < 1e-9:
                turns.append((t_in, t_out, None))
                continue
            side = 1.0 if delta > 0 else -1.0  # the centre is on the inside of the turn
            centre = (t_in[0] - side * a[1] * radius, t_in[1] + side * a[0] * radius)
            start = math.atan2(t_in[1] - centre[1], t_in[0] - centre[0])
            turns.append((t_in, t_out, Turn(centre, radius, start, delta)))
        for i in range(n):
            if cuts[i] + cuts[(i + 1) % n] > math.dist(corners[i], corners[(i + 1) % n]) + 1e-6:
                raise ValueError(f"the leg from corner {i} is too short for {radius:.0f} m turns")
        segments: list[Segment] = []
        for i in range(n):
            _, t_out, turn = turns[i]
            if turn is not None:
                segments.append(turn)
            t_in_next = turns[(i + 1) % n][0]
            if math.dist(t_out, t_in_next) > 1e-6:
                segments.append(Leg(t_out, t_in_next))
        return cls(plane, tuple(segments))

    @classmethod
    def orbit(cls, centre: tuple[float, float], radius: Metres) -> Circuit:
        """A circle of ``radius`` round ``centre`` ([lon, lat]), flown clockwise."""
        plane = LocalPlane(*centre)
        square = [(-radius, radius), (radius, radius), (radius, -radius), (-radius, -radius)]
        return cls.rounded(plane, square, radius)

    def at(self, s: Metres) -> tuple[XY, float]:
        """Point ``s`` metres round the circuit (wrapping every lap) and the direction of
        travel there (radians from plane east, anticlockwise)."""
        s %= self.length
        for seg in self.segments:
            if s <= seg.length:
                x, y, direction = seg.at(s)
                return (x, y), direction
            s -= seg.length
        x, y, direction = self.segments[-1].at(self.segments[-1].length)
        return (x, y), direction

    def lonlat(self, s: Metres) -> tuple[float, float, Degrees]:
        """Longitude, latitude and true track (degrees) ``s`` metres round the circuit."""
        (x, y), direction = self.at(s)
        ahead = (x + _HEADING_STEP_M * math.cos(direction),
                 y + _HEADING_STEP_M * math.sin(direction))
        lon, lat = self.plane.inverse([x, ahead[0]], [y, ahead[1]])
        azimuth, _, _ = WGS84.inv(float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1]))
        return float(lon[0]), float(lat[0]), azimuth % 360.0


def _unit(p: XY, q: XY) -> XY:
    d = math.dist(p, q)
    if d == 0:
        raise ValueError("two consecutive waypoints coincide")
    return (q[0] - p[0]) / d, (q[1] - p[1]) / d


@dataclass(frozen=True, slots=True)
class SimulatedAircraft:
    """One aircraft flying ``circuit`` at a constant ground speed and altitude, ``offset_m``
    round it at time 0 (whatever time 0 means to the caller: a scenario's start)."""

    aircraft_id: str
    callsign: str
    circuit: Circuit
    ground_speed_mps: MetresPerSecond
    altitude_m: Metres
    offset_m: Metres = 0.0

    @property
    def lap_s(self) -> Seconds:
        """How long one lap of the circuit takes."""
        return self.circuit.length / self.ground_speed_mps

    @classmethod
    def timed(
        cls, aircraft_id: str, callsign: str, circuit: Circuit, lap_s: Seconds,
        altitude_m: Metres, *, start_s: Seconds = 0.0,
    ) -> SimulatedAircraft:
        """The aircraft that flies ``circuit`` in ``lap_s`` seconds and is ``start_s``
        seconds into its lap at time 0 (so scripted deviations happen on a schedule)."""
        speed = circuit.length / lap_s
        return cls(aircraft_id, callsign, circuit, speed, altitude_m, speed * start_s)

    def report(self, t: Seconds, *, at: Seconds | None = None) -> StateReport:
        """Its state ``t`` seconds after time 0, stamped ``at`` (default ``t``)."""
        lon, lat, track = self.circuit.lonlat(self.offset_m + self.ground_speed_mps * t)
        return StateReport(self.aircraft_id, t if at is None else at, lat, lon,
                           self.altitude_m, self.ground_speed_mps, track, 0.0)


def patrol_circuit(footprint: Footprint, turn_radius_m: Metres) -> Circuit:
    """A pattern inside ``footprint`` for an aircraft that turns with ``turn_radius_m``:
    an orbit in a circle, a racetrack along a polygon's longest axis (tighter turns, or an
    orbit round an inner point, when the polygon is too small or oddly shaped for that)."""
    centre = footprint_centre(footprint)
    if isinstance(footprint, CircleFootprint):
        return Circuit.orbit(centre, min(turn_radius_m, footprint.radius_m / 2))
    plane = LocalPlane(*centre)
    core = planarize(footprint, plane).core
    box = shapely.minimum_rotated_rectangle(core)
    xy = list(box.exterior.coords)[:4]
    sides = [math.dist(xy[i], xy[i + 1]) for i in range(2)]
    along = 0 if sides[0] >= sides[1] else 1
    (ax, ay), (bx, by) = xy[along], xy[along + 1]
    ux, uy = (bx - ax) / sides[along], (by - ay) / sides[along]
    mid = shapely.centroid(box)
    for shrink in (0.8, 0.6, 0.4):  # a fifth of the box (then more) to spare at each side
        half_width = min(turn_radius_m, shrink * sides[1 - along] / 2)
        half_length = max(shrink * sides[along] / 2, half_width)
        corners = [(mid.x + sx * ux * half_length - sy * uy * half_width,
                    mid.y + sx * uy * half_length + sy * ux * half_width)
                   for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        if core.contains(shapely.Polygon(corners)):
            return Circuit.rounded(plane, corners, half_width)
    inner = core.representative_point()
    room = core.exterior.distance(inner)
    lon, lat = plane.inverse([inner.x], [inner.y])
    return Circuit.orbit((float(lon[0]), float(lat[0])), min(turn_radius_m, room / 2))
