"""Space-time cells: the spatial index as plain integers, portable to any SQL database.

A volume is indexed under every cell its footprint touches. The globe is cut into latitude
bands of ``CELL_DEG`` degrees, each band into as many longitude cells as keep them at least
``CELL_DEG`` degrees of great circle wide (so cells stay ~55 km wide up to the poles, where
one cell covers the band). Time is cut into ``BUCKET_S`` buckets; a volume longer than
``LONG_S`` goes into one ``LONG_BUCKET`` that every search also reads. As the InterUSS DSS keys
4D volumes by S2 cells, the key is one integer and needs no engine-specific index.

Examples
--------
>>> keys = cover((37.10, 36.15, 37.25, 36.25), 0.0, 0.0, 3600.0)
>>> len(keys)
1
>>> len(cover((37.10, 36.40, 37.25, 36.49), 9260.0, 0.0, 3600.0))  # the margin crosses 36.5° N
3
>>> search_cells((37.10, 36.15, 37.25, 36.25), 0.0, 0.0, 3600.0).shape  # + the long bucket
(2, 2)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from deconfliction.model.units import Metres, Seconds

__all__ = ["CELL_DEG", "BUCKET_S", "LONG_S", "LONG_BUCKET", "cover", "search_cells"]

CELL_DEG = 0.5
BUCKET_S = 6 * 3600.0
LONG_S = 7 * 86400.0
LONG_BUCKET = (1 << 21) - 1
_BANDS = int(round(180 / CELL_DEG))
_MAX_LON_CELLS = 1024
_METRES_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude (at the equator), WGS84
# a degree of longitude is N·cos(φ)·π/180 with N ≥ a = 6,378,137 m: never shorter than this × cos φ
_METRES_PER_DEG_LON_EQ = 111_319.0


def _lon_cells(band: int) -> int:
    """Number of longitude cells in a latitude band."""
    poleward = max(abs(-90 + band * CELL_DEG), abs(-90 + (band + 1) * CELL_DEG))
    return max(1, int(360 * math.cos(math.radians(poleward)) / CELL_DEG))


def _spatial_cells(bounds: tuple[float, float, float, float], margin_m: Metres) -> list[int]:
    west, south, east, north = bounds
    dlat = margin_m / _METRES_PER_DEG_LAT
    south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
    coslat = math.cos(math.radians(max(abs(south), abs(north))))
    dlon = 360.0 if coslat < 1e-9 else margin_m / (_METRES_PER_DEG_LON_EQ * coslat)
    west, east = west - dlon, east + dlon
    first = min(_BANDS - 1, int((south + 90) // CELL_DEG))
    last = min(_BANDS - 1, int((north + 90) // CELL_DEG))
    cells: list[int] = []
    for band in range(first, last + 1):
        n = _lon_cells(band)
        indices: range | list[int]
        if east - west >= 360.0:
            indices = range(n)
        else:
            lo = math.floor((west + 180.0) / 360.0 * n)
            hi = math.floor((east + 180.0) / 360.0 * n)
            indices = sorted({k % n for k in range(lo, hi + 1)})
        cells.extend(band * _MAX_LON_CELLS + k for k in indices)
    return cells


def _clamp(bucket: int) -> int:
    """Buckets stay within the key's 21 bits (1970 … year 3165)."""
    return max(0, min(LONG_BUCKET - 1, bucket))


def _bucket_span(time_start: Seconds, time_end: Seconds) -> tuple[int, int]:
    """First and last bucket of the window [time_start, time_end)."""
    return (_clamp(int(time_start // BUCKET_S)),
            _clamp(max(int(time_start // BUCKET_S), math.ceil(time_end / BUCKET_S) - 1)))


def _buckets(time_start: Seconds, time_end: Seconds) -> list[int]:
    if time_end - time_start > LONG_S:
        return [LONG_BUCKET]
    first, last = _bucket_span(time_start, time_end)
    return list(range(first, last + 1))


def cover(
    bounds: tuple[float, float, float, float],
    margin_m: Metres,
    time_start: Seconds,
    time_end: Seconds,
) -> np.ndarray:
    """Cell keys under which to store a volume with these (west, south, east, north) bounds."""
    spatial = _spatial_cells(bounds, margin_m)
    buckets = _buckets(time_start, time_end)
    return np.array([(s << 21) | b for s in spatial for b in buckets], dtype=np.int64)


def search_cells(
    bounds: tuple[float, float, float, float],
    margin_m: Metres,
    time_start: Seconds,
    time_end: Seconds,
) -> npt.NDArray[np.int64]:
    """Inclusive key ranges ``(k, 2)`` to read to find every stored volume within
    ``margin_m`` of the bounds and overlapping the window.

    One range per spatial cell spans the window's buckets and the long bucket, so even a
    search over decades costs one index range per cell.
    """
    spatial = _spatial_cells(bounds, margin_m)
    first, last = _bucket_span(time_start, time_end)
    ranges = []
    for s in spatial:
        ranges.append(((s << 21) | first, (s << 21) | last))
        ranges.append(((s << 21) | LONG_BUCKET, (s << 21) | LONG_BUCKET))
    return np.array(ranges, dtype=np.int64).reshape(-1, 2)
