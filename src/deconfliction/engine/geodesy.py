"""Local planes and geodesic distances on the WGS84 ellipsoid.

Footprints are compared in an azimuthal equidistant plane centred near them (distances from
the centre are exact; within a few hundred kilometres the rest stay within ~0.02 %), and any
distance that decides a conflict is then measured again as a geodesic between the nearest points.

Examples
--------
>>> plane = LocalPlane(37.134, 36.202)
>>> x, y = plane.forward([37.134], [36.202])
>>> round(float(x[0]), 6), round(float(y[0]), 6)
(0.0, 0.0)
>>> round(geodesic_distance(37.0, 36.0, 37.0, 37.0))
110968
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyproj

from deconfliction.model.units import Metres

__all__ = ["LocalPlane", "geodesic_distance", "unwrap_ring", "WGS84"]

WGS84 = pyproj.Geod(ellps="WGS84")


class LocalPlane:
    """Azimuthal equidistant projection on WGS84 centred at (lon0, lat0), metres."""

    __slots__ = ("lon0", "lat0", "_transformer")

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = float(lon0)
        self.lat0 = float(lat0)
        # A pipeline is ~100× cheaper to build than a CRS-to-CRS transformer.
        self._transformer = pyproj.Transformer.from_pipeline(
            "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
            f"+step +proj=aeqd +lat_0={self.lat0!r} +lon_0={self.lon0!r} +ellps=WGS84"
        )

    def forward(
        self, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Degrees to plane metres (longitudes are taken the short way round the centre)."""
        x, y = self._transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def inverse(
        self, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Plane metres to degrees, longitudes in [-180, 180]."""
        lon, lat = self._transformer.transform(
            np.asarray(x, float), np.asarray(y, float), direction="INVERSE"
        )
        return np.asarray(lon), np.asarray(lat)


def geodesic_distance(lon1: float, lat1: float, lon2: float, lat2: float) -> Metres:
    """Length of the WGS84 geodesic between two points."""
    return float(WGS84.inv(lon1, lat1, lon2, lat2)[2])


def unwrap_ring(lon: np.ndarray, near: float | None = None) -> np.ndarray:
    """Longitudes along a ring with every edge taken the short way round (no jump over 180°),
    shifted by whole turns so their mean is within 180° of ``near`` (default: the first one).

    >>> unwrap_ring(np.array([179.0, -179.0, -179.0, 179.0, 179.0])).tolist()
    [179.0, 181.0, 181.0, 179.0, 179.0]
    """
    lon = np.asarray(lon, float)
    turns = -np.round(np.diff(lon) / 360.0)  # whole turns only, so coordinates stay exact
    lon = lon + 360.0 * np.concatenate([[0.0], np.cumsum(turns)])
    reference = lon[0] if near is None else near
    unwrapped: np.ndarray = lon - 360.0 * np.round((lon.mean() - reference) / 360.0)
    return unwrapped
