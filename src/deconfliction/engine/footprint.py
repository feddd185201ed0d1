"""Footprint geometry: validation and projection into a local plane.

GeoJSON edges are straight lines in longitude/latitude (RFC 7946 §3.1.1), so polygons are
densified in degrees before projection; a ring that jumps across ±180° is read the short way
round, so footprints around the antimeridian need not be cut in two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from deconfliction.engine.geodesy import WGS84, LocalPlane, unwrap_ring
from deconfliction.model.units import Metres
from deconfliction.model.volume import CircleFootprint, Footprint, PolygonFootprint

__all__ = [
    "MAX_VERTICES",
    "MAX_AREA_M2",
    "PlanarFootprint",
    "bounding_caps",
    "footprint_centre",
    "footprint_area_m2",
    "footprint_errors",
    "footprint_span_m",
    "footprint_complexity",
    "planarize",
    "geographic_bounds",
]

MAX_VERTICES = 10_000  # ASTM F3548-21: at most 10,000 vertices per polygon
MAX_AREA_M2 = 10_000e6  # ASTM F3548-21: constraint area at most 10,000 km²
DENSIFY_DEG = 0.01  # ~1.1 km: the lon/lat-straight edge is then followed to a few cm
MAX_DENSIFIED = 5_000  # vertices after densifying: bounds the cost of any footprint, even one
# stored before the limits existed. Only a boundary over 50° long gets a coarser step (one of
# 500°, 0.1° steps: a parallel then bows ~1 m off the plane's chord at 36° N)
PLANAR_CACHE = 64  # planar polygons remembered (each at most MAX_DENSIFIED vertices)
CIRCLE_QUAD_SEGMENTS = 32  # for drawn circles only; distances to circles are exact
_MIN_MERIDIONAL_RADIUS_M = 6_335_000.0  # WGS84 a(1 − e²) = 6,335,439 m, rounded down
_METRES_PER_DEG_LAT = 111_694.0  # the longest degree of latitude (at the poles), WGS84
_METRES_PER_DEG_LON_EQ = 111_320.0  # a degree of longitude at the equator, WGS84


@dataclass(frozen=True, slots=True)
class PlanarFootprint:
    """A footprint in a local plane: points within ``radius_m`` of ``core``.

    Polygons have radius 0; a circle is its centre point with its radius, so distances to
    circles need no polygon approximation.
    """

    core: BaseGeometry
    radius_m: Metres

    def shape(self) -> BaseGeometry:
        """The area itself (circles drawn as polygons)."""
        if self.radius_m > 0:
            return shapely.buffer(self.core, self.radius_m, quad_segs=CIRCLE_QUAD_SEGMENTS)
        return self.core


def footprint_centre(footprint: Footprint) -> tuple[float, float]:
    """A point near the middle of the footprint, to centre a local plane on."""
    if isinstance(footprint, CircleFootprint):
        return footprint.center
    ring = np.asarray(footprint.exterior[:-1], float)
    centre_lon = float(np.mean(unwrap_ring(ring[:, 0])))
    return (centre_lon + 180.0) % 360.0 - 180.0, float(np.mean(ring[:, 1]))


def bounding_caps(
    footprints: Sequence[Footprint],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per footprint a centre (lon, lat) and a radius (m) of a cap that holds all of it.

    A cheap, vectorised first look: two footprints whose caps are far apart are far apart.
    Polygon radii reach the farthest vertex, with 1 % + 100 m to spare for edges that bow out.
    """
    caps = np.array([(*f.center, f.radius_m) if isinstance(f, CircleFootprint)
                     else _polygon_cap(f) for f in footprints], dtype=float).reshape(-1, 3)
    return caps[:, 0], caps[:, 1], caps[:, 2]


@lru_cache(maxsize=PLANAR_CACHE)
def _polygon_cap(footprint: PolygonFootprint) -> tuple[float, float, float]:
    """`bounding_caps` of one polygon, remembered: a dry run asks for the same footprints'
    caps several times, and a geodesic to each of 1,000 vertices costs ~1 ms."""
    lon, lat = footprint_centre(footprint)
    ring = np.asarray(footprint.exterior, float)
    _, _, d = WGS84.inv(np.full(len(ring), lon), np.full(len(ring), lat), ring[:, 0], ring[:, 1])
    return lon, lat, float(np.max(d)) * 1.01 + 100.0


def geographic_bounds(footprint: Footprint) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees; east may exceed 180 across the antimeridian."""
    if isinstance(footprint, CircleFootprint):
        lon, lat = footprint.center
        # the smallest meridional radius of curvature (WGS84, at the equator), so never short
        dlat = math.degrees(footprint.radius_m / _MIN_MERIDIONAL_RADIUS_M)
        coslat = math.cos(math.radians(min(89.999, abs(lat) + dlat)))
        dlon = 180.0 if coslat <= 0 else min(180.0, dlat / coslat)
        return lon - dlon, max(-90.0, lat - dlat), lon + dlon, min(90.0, lat + dlat)
    ring = np.asarray(footprint.exterior, float)
    lons = unwrap_ring(ring[:, 0])
    return float(lons.min()), float(ring[:, 1].min()), float(lons.max()), float(ring[:, 1].max())


def _unwrapped_rings(polygon: PolygonFootprint, near: float) -> list[np.ndarray]:
    """The rings as (lon, lat) arrays, each edge the short way round, near longitude ``near``."""
    return [
        np.column_stack([unwrap_ring(np.asarray(r, float)[:, 0], near), np.asarray(r, float)[:, 1]])
        for r in polygon.rings
    ]


def planarize(
    footprint: Footprint, plane: LocalPlane, *, within_m: Metres | None = None
) -> PlanarFootprint:
    """The footprint in ``plane``'s metres; with ``within_m``, only (at least) its part within
    that distance of the plane's centre, cut in degrees before densifying and projecting (a
    huge footprint then costs only its part near what it is compared with)."""
    if isinstance(footprint, CircleFootprint):
        x, y = plane.forward([footprint.center[0]], [footprint.center[1]])
        return PlanarFootprint(shapely.Point(float(x[0]), float(y[0])), footprint.radius_m)
    return _planar_polygon(footprint, plane.lon0, plane.lat0, within_m)


@lru_cache(maxsize=PLANAR_CACHE)
def _planar_polygon(
    footprint: PolygonFootprint, lon0: float, lat0: float, within_m: Metres | None
) -> PlanarFootprint:
    """`planarize` for a polygon, remembered: one dry run projects the same (densified, up to
    `MAX_DENSIFIED` vertices) footprints on the same plane several times — the conflicts, the
    suggestions, each conflict's region — and projecting costs more than comparing."""
    plane = LocalPlane(lon0, lat0)
    rings = _unwrapped_rings(footprint, plane.lon0)
    polygon = shapely.Polygon(rings[0], rings[1:])
    if within_m is not None:
        dlat = math.degrees(within_m / _MIN_MERIDIONAL_RADIUS_M) + 1e-6
        if abs(plane.lat0) + dlat < 89.0:
            coslat = math.cos(math.radians(abs(plane.lat0) + dlat))
            dlon = min(180.0, dlat / coslat)
            cut = shapely.clip_by_rect(  # fast; may be invalid where it runs along the cut
                polygon, plane.lon0 - dlon, plane.lat0 - dlat, plane.lon0 + dlon, plane.lat0 + dlat)
            if isinstance(cut, shapely.Polygon | shapely.MultiPolygon) and not cut.is_empty:
                polygon = cut
    step = max(DENSIFY_DEG, float(shapely.length(polygon)) / MAX_DENSIFIED)
    polygon = shapely.segmentize(polygon, step)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = plane.forward(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return PlanarFootprint(shapely.transform(polygon, project), 0.0)


def footprint_errors(
    footprint: Footprint, *, max_area_m2: float | None = MAX_AREA_M2
) -> list[tuple[str, str]]:
    """Everything wrong with a footprint, as (sub-field, message); empty when valid. With
    ``max_area_m2=None`` the area is not checked (see `footprint_area_m2`)."""
    if isinstance(footprint, CircleFootprint):
        return _circle_errors(footprint, max_area_m2)
    return _polygon_errors(footprint, max_area_m2)


def footprint_area_m2(footprint: Footprint) -> float:
    """The area of a valid footprint, m² (a polygon's in a local plane)."""
    if isinstance(footprint, CircleFootprint):
        return math.pi * footprint.radius_m**2
    plane = LocalPlane(*footprint_centre(footprint))
    return float(shapely.area(planarize(footprint, plane).core))


def footprint_span_m(footprint: Footprint) -> float:
    """The longer side of a valid footprint's bounding box, m (east-west measured where the
    box is widest): what the spatial index's cell count grows with."""
    west, south, east, north = geographic_bounds(footprint)
    nearest_equator = 0.0 if south <= 0.0 <= north else min(abs(south), abs(north))
    return max((north - south) * _METRES_PER_DEG_LAT,
               (east - west) * _METRES_PER_DEG_LON_EQ * math.cos(math.radians(nearest_equator)))


def footprint_complexity(footprint: Footprint) -> int:
    """The vertices the engine works on for this footprint: every edge cut into steps of at
    most `DENSIFY_DEG` (as `planarize` follows lon/lat-straight edges), over all rings; 0 for a
    circle (a point and a radius). Every distance, index and region computed near a footprint
    costs in proportion to this (n log n), however jagged the shape: a 1,000-vertex comb with
    teeth 11 km tall is ~10,000, a 10,000 km² square 400, a 1,000 km corridor ~2,200."""
    if isinstance(footprint, CircleFootprint):
        return 0
    count = 0
    for ring in _unwrapped_rings(footprint, footprint.exterior[0][0]):
        steps = np.hypot(np.diff(ring[:, 0]), np.diff(ring[:, 1])) / DENSIFY_DEG
        count += int(np.maximum(1.0, np.ceil(steps - 1e-9)).sum())  # 0.1 / 0.01 is 10.000…02
    return count


def _position_errors(field: str, lon: float, lat: float) -> list[tuple[str, str]]:
    errors = []
    if not (math.isfinite(lon) and math.isfinite(lat)):
        errors.append((field, "coordinates must be finite numbers"))
    elif not -180.0 <= lon <= 180.0:
        errors.append((field, f"longitude {lon} is outside [-180, 180]"))
    elif not -90.0 <= lat <= 90.0:
        errors.append((field, f"latitude {lat} is outside [-90, 90]"))
    return errors


def _circle_errors(circle: CircleFootprint, max_area_m2: float | None) -> list[tuple[str, str]]:
    errors = _position_errors("center", *circle.center)
    r = circle.radius_m
    if not (math.isfinite(r) and r > 0):
        errors.append(("radius_m", "radius_m must be a positive finite number"))
    elif max_area_m2 is not None and math.pi * r * r > max_area_m2:
        errors.append(
            (
                "radius_m",
                f"circle area {math.pi * r * r / 1e6:.0f} km² exceeds {max_area_m2 / 1e6:.0f} km²",
            )
        )
    return errors


def _polygon_errors(
    polygon: PolygonFootprint, max_area_m2: float | None
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not polygon.rings:
        return [("coordinates", "a polygon needs an exterior ring")]
    vertices = 0
    for r, ring in enumerate(polygon.rings):
        field = f"coordinates[{r}]"
        for k, (lon, lat) in enumerate(ring):
            errors += _position_errors(f"{field}[{k}]", lon, lat)
        if errors:
            return errors
        if len(ring) < 2 or ring[0] != ring[-1]:
            errors.append((field, "ring is not closed: the last position must repeat the first"))
            continue
        distinct = len(set(ring[:-1]))
        vertices += len(ring) - 1
        if distinct < 3:
            errors.append((field, f"ring has {distinct} distinct vertices; at least 3 needed"))
    if vertices > MAX_VERTICES:
        errors.append(("coordinates", f"polygon has {vertices} vertices; at most {MAX_VERTICES}"))
    if errors:
        return errors
    # Topology is checked on the vertices as given (densifying could hide a crossing by
    # putting a vertex exactly on it); area in the local plane.
    rings = _unwrapped_rings(polygon, polygon.exterior[0][0])
    if any(abs(r[-1, 0] - r[0, 0]) > 1e-9 for r in rings):
        return [("coordinates", "a ring goes all the way round a pole; split the footprint")]
    as_given = shapely.Polygon(rings[0], rings[1:])
    if not shapely.is_valid(as_given):
        reason = shapely.is_valid_reason(as_given)
        kind = "self-intersecting" if "intersection" in reason.lower() else "invalid"
        return [("coordinates", f"polygon is {kind}: {reason}")]
    if max_area_m2 is None:
        return errors
    area = footprint_area_m2(polygon)
    if area > max_area_m2:
        errors.append(
            (
                "coordinates",
                f"polygon area {area / 1e6:.0f} km² exceeds {max_area_m2 / 1e6:.0f} km²",
            )
        )
    return errors
