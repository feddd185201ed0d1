"""WGS84 geodesy (pyproj.Geod) and request-body builders for the API, SI units throughout; and a
unique place on the globe per test."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyproj import Geod

#: The contract's en-route minima: 5 NM and 1000 ft.
EN_ROUTE_H_M = 5 * 1852.0
EN_ROUTE_V_M = 1000 * 0.3048

FULL_VIEW_KEYS = {
    "id", "owner", "volumes", "priority", "state", "ovn", "short_notice",
    "callsigns", "notes", "created_at", "updated_at",
}
RESTRICTED_VIEW_KEYS = {"id", "owner", "volumes", "priority", "state", "ovn", "short_notice"}

_GEOD = Geod(ellps="WGS84")


def _norm_lon(lon: float) -> float:
    return ((lon + 180.0) % 360.0) - 180.0


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> datetime:
    assert isinstance(s, str) and (s.endswith("Z") or s.endswith("+00:00")), (
        f"API times must be RFC 3339 UTC, got {s!r}"
    )
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None
    return t


class Geo:
    """WGS84 geodesy (pyproj.Geod) and request-body builders; SI units throughout."""

    geod = _GEOD
    H = EN_ROUTE_H_M
    V = EN_ROUTE_V_M
    FULL_VIEW_KEYS = FULL_VIEW_KEYS
    RESTRICTED_VIEW_KEYS = RESTRICTED_VIEW_KEYS
    parse_time = staticmethod(parse_time)
    iso = staticmethod(_iso)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    @staticmethod
    def at(t: datetime | float | int) -> str:
        """A time: a datetime, or seconds from now."""
        if isinstance(t, datetime):
            return _iso(t)
        return _iso(Geo.now() + timedelta(seconds=float(t)))

    @staticmethod
    def offset(p: tuple[float, float], azimuth_deg: float, dist_m: float) -> tuple[float, float]:
        lon, lat, _ = _GEOD.fwd(p[0], p[1], azimuth_deg, dist_m)
        return (_norm_lon(lon), lat)

    @staticmethod
    def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
        return _GEOD.inv(a[0], a[1], b[0], b[1])[2]

    @staticmethod
    def azimuth(a: tuple[float, float], b: tuple[float, float]) -> float:
        return _GEOD.inv(a[0], a[1], b[0], b[1])[0]

    @staticmethod
    def polygon(points: Iterable[tuple[float, float]]) -> dict:
        """A GeoJSON Polygon from an open list of vertices; closed and made counter-clockwise."""
        pts = [[round(float(lon), 9), round(float(lat), 9)] for lon, lat in points]
        # Signed area with longitudes unwrapped relative to the first vertex.
        ref = pts[0][0]
        un = [[ref + _norm_lon(x - ref), y] for x, y in pts]
        s = sum(un[i][0] * un[(i + 1) % len(un)][1] - un[(i + 1) % len(un)][0] * un[i][1]
                for i in range(len(un)))
        if s < 0:
            pts.reverse()
        return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}

    @staticmethod
    def square(center: tuple[float, float], half_side_m: float = 1000.0) -> dict:
        """An approximately square footprint: corners half_side_m N/S and E/W of the centre."""
        n = Geo.offset(center, 0, half_side_m)
        s = Geo.offset(center, 180, half_side_m)
        ne = Geo.offset(n, 90, half_side_m)
        nw = Geo.offset(n, 270, half_side_m)
        se = Geo.offset(s, 90, half_side_m)
        sw = Geo.offset(s, 270, half_side_m)
        return Geo.polygon([sw, se, ne, nw])

    @staticmethod
    def ngon(center: tuple[float, float], radius_m: float, n: int) -> dict:
        """A regular n-gon with geodesic radius radius_m (vertices exactly on the circle)."""
        pts = [Geo.offset(center, 360.0 * i / n, radius_m) for i in range(n)]
        pts.reverse()  # clockwise azimuths -> counter-clockwise ring
        return Geo.polygon(pts)

    @staticmethod
    def circle(center: tuple[float, float], radius_m: float = 1000.0) -> dict:
        return {"type": "Circle", "center": [center[0], center[1]], "radius_m": radius_m}

    @staticmethod
    def diamond(tip: tuple[float, float], toward_deg: float, length_m: float = 1000.0,
                width_m: float = 600.0) -> dict:
        """A rhombus whose sharp tip is at ``tip`` pointing along azimuth ``toward_deg``; its
        body lies behind the tip. Two diamonds whose tips face each other along one geodesic
        are exactly ``distance(tipA, tipB)`` apart."""
        back = toward_deg + 180.0
        mid = Geo.offset(tip, back, length_m / 2)
        far = Geo.offset(tip, back, length_m)
        left = Geo.offset(mid, toward_deg - 90.0, width_m / 2)
        right = Geo.offset(mid, toward_deg + 90.0, width_m / 2)
        return Geo.polygon([tip, left, far, right])

    @staticmethod
    def facing_diamonds(center: tuple[float, float], gap_m: float,
                        azimuth_deg: float = 90.0) -> tuple[dict, dict]:
        """Two footprints exactly gap_m apart (geodesic), centred on ``center``."""
        a_tip = Geo.offset(center, azimuth_deg + 180.0, gap_m / 2)
        b_tip = Geo.offset(center, azimuth_deg, gap_m / 2)
        az_ab = Geo.azimuth(a_tip, b_tip)
        az_ba = Geo.azimuth(b_tip, a_tip)
        return Geo.diamond(a_tip, az_ab), Geo.diamond(b_tip, az_ba)

    @staticmethod
    def volume(footprint: dict, lower: float = 1000.0, upper: float = 2000.0,
               start: datetime | float = 7200, end: datetime | float = 10800) -> dict:
        """A volume; start/end are datetimes or seconds from now (default +2 h .. +3 h)."""
        return {
            "footprint": footprint,
            "altitude_lower_m": lower,
            "altitude_upper_m": upper,
            "time_start": Geo.at(start),
            "time_end": Geo.at(end),
        }

    @staticmethod
    def area4d(footprint: dict, lower: float | None = None, upper: float | None = None,
               start: datetime | float | None = None,
               end: datetime | float | None = None) -> dict:
        a: dict[str, Any] = {"footprint": footprint}
        if lower is not None:
            a["altitude_lower_m"] = lower
        if upper is not None:
            a["altitude_upper_m"] = upper
        if start is not None:
            a["time_start"] = Geo.at(start)
        if end is not None:
            a["time_end"] = Geo.at(end)
        return a

    @staticmethod
    def mentions(obj: Any, needle: str) -> bool:
        """Whether ``needle`` appears as a value anywhere in a JSON structure."""
        if obj == needle:
            return True
        if isinstance(obj, dict):
            return any(Geo.mentions(v, needle) for v in obj.values())
        if isinstance(obj, list):
            return any(Geo.mentions(v, needle) for v in obj)
        return False

    @staticmethod
    def same_volume(sent: dict, got: dict) -> None:
        """Assert the API returned the volume we sent (times compared as instants)."""
        for k in ("altitude_lower_m", "altitude_upper_m"):
            assert math.isclose(got[k], sent[k], abs_tol=1e-6), (k, sent, got)
        for k in ("time_start", "time_end"):
            assert parse_time(got[k]) == parse_time(sent[k]), (k, sent[k], got[k])
        fs, fg = sent["footprint"], got["footprint"]
        assert fg["type"] == fs["type"], (fs, fg)
        if fs["type"] == "Circle":
            assert fg["center"] == pytest.approx(fs["center"]), (fs, fg)
            assert fg["radius_m"] == pytest.approx(fs["radius_m"]), (fs, fg)
        else:
            vs = {(round(x, 6), round(y, 6)) for x, y in fs["coordinates"][0]}
            vg = {(round(x, 6), round(y, 6)) for x, y in fg["coordinates"][0]}
            assert vs == vg, (fs, fg)


def _area_centres() -> Iterator[tuple[float, float]]:
    """Centres 3 degrees apart at mid latitudes (27..57 N/S), lon -168..168: far from the
    poles and the antimeridian, and from the fixed places of the geodesy tests."""
    lats = [float(x) for x in range(27, 58, 3)]
    rows = [lat for pair in zip(lats, [-x for x in lats], strict=True) for lat in pair]
    for lat in rows:
        for lon in range(-168, 169, 3):
            yield (float(lon), lat)


_AREAS = _area_centres()


def next_area() -> tuple[float, float]:
    return next(_AREAS)
