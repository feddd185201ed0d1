"""4D volumes: a footprint (polygon or circle) × an altitude band × a time window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from deconfliction.model.units import Metres, Seconds

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class PolygonFootprint:
    """A GeoJSON (RFC 7946) polygon: exterior ring first, then holes; rings closed, [lon, lat]."""

    rings: tuple[tuple[LonLat, ...], ...]

    @property
    def exterior(self) -> tuple[LonLat, ...]:
        return self.rings[0]


@dataclass(frozen=True, slots=True)
class CircleFootprint:
    """Every point within ``radius_m`` (geodesic) of ``center`` ([lon, lat])."""

    center: LonLat
    radius_m: Metres


Footprint = PolygonFootprint | CircleFootprint


@dataclass(frozen=True, slots=True)
class Volume:
    """Where and when: footprint × [altitude_lower_m, altitude_upper_m] × [time_start, time_end).

    Altitudes are metres above the WGS84 ellipsoid; times are UTC seconds since the epoch.
    """

    footprint: Footprint
    altitude_lower_m: Metres
    altitude_upper_m: Metres
    time_start: Seconds
    time_end: Seconds

    def shifted(self, *, seconds: float = 0.0, metres: float = 0.0) -> Volume:
        """The same volume moved in time and/or altitude."""
        return replace(
            self,
            altitude_lower_m=self.altitude_lower_m + metres,
            altitude_upper_m=self.altitude_upper_m + metres,
            time_start=self.time_start + seconds,
            time_end=self.time_end + seconds,
        )


def footprint_to_geojson(footprint: Footprint) -> dict[str, Any]:
    """The footprint as the API and the store write it (GeoJSON Polygon, or our Circle)."""
    if isinstance(footprint, CircleFootprint):
        return {"type": "Circle", "center": list(footprint.center), "radius_m": footprint.radius_m}
    return {"type": "Polygon", "coordinates": [[list(p) for p in r] for r in footprint.rings]}


def footprint_from_geojson(data: dict[str, Any]) -> Footprint:
    """Inverse of :func:`footprint_to_geojson` (for trusted, already validated data)."""
    if data["type"] == "Circle":
        lon, lat = data["center"]
        return CircleFootprint((float(lon), float(lat)), float(data["radius_m"]))
    return PolygonFootprint(
        tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in data["coordinates"])
    )


@dataclass(frozen=True, slots=True)
class Region:
    """A 4D region the engine works out (where two volumes come too close); the footprint is
    GeoJSON (a Polygon or MultiPolygon)."""

    footprint: dict[str, Any]
    altitude_lower_m: Metres
    altitude_upper_m: Metres
    time_start: float
    time_end: float
