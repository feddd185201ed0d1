"""The line's cost model: how much one request, one party or one minute may ask of it.

A neutral line is shared by parties that may be hostile to each other, so every request's cost
is bounded by these limits (the ``[limits]`` table of ``line.toml``, read by `config`). A
request over a limit is refused with a problem that names the limit and its value (400 for a
shape the line will not take, 413 for a body too large, 429 with ``Retry-After`` for a rate).
The defaults are what a real operator can live with while every request stays cheap on a
2-core machine; README "Limits" says why for each.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Limits", "LIMIT_NAMES"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request, per-party and per-minute limits (all positive)."""

    body_bytes: int = 1 << 20
    """Largest request body (bytes): 1 MiB holds a full-size operation or track batch."""

    nesting_depth: int = 32
    """Deepest JSON nesting in a body (objects and arrays): our deepest valid body is 6."""

    vertices_per_polygon: int = 1_000
    """Vertices of one polygon footprint, all rings (ASTM F3548-21 allows up to 10,000; this
    bound keeps buffering the worst shape within the 200 ms a declaration may cost)."""

    vertices_per_operation: int = 5_000
    """Vertices over all volumes of one operation or constraint."""

    volumes_per_operation: int = 100
    """Volumes in one operation or constraint."""

    area_km2: float = 10_000.0
    """Footprint area of one volume, km² (ASTM F3548-21: a constraint at most 10,000 km²)."""

    span_km: float = 1_000.0
    """Longest side of one footprint's bounding box, km (a thin sliver of small area must not
    touch thousands of index cells)."""

    altitude_range_m: float = 30_000.0
    """Height of one volume's altitude band, m (ground to ~FL980: any airspace flown)."""

    duration_s: float = 30 * 86_400.0
    """Length of one volume's time window, s (the 30-day planning horizon, ASTM F3548-21)."""

    reports_per_batch: int = 2_000
    """State reports in one POST /v1/tracks."""

    new_aircraft_per_batch: int = 500
    """Aircraft a batch may name that the line has not seen from this party before."""

    new_aircraft_per_minute: int = 2_000
    """New aircraft one party may register in a minute (a token bucket; 429 past it)."""

    messages_per_minute: int = 600
    """Hotline messages and replies one party may send in a minute (a token bucket)."""


LIMIT_NAMES = frozenset(f.name for f in fields(Limits))
"""The keys the ``[limits]`` table may hold."""
