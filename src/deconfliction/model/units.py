"""Units: SI inside, aviation units only at the edges (DESIGN.md, Edges).

The ``Annotated`` aliases carry the unit in the type, so a signature says what it takes.
"""

from __future__ import annotations

from typing import Annotated

Metres = Annotated[float, "m"]
Seconds = Annotated[float, "s"]
MetresPerSecond = Annotated[float, "m/s"]
Degrees = Annotated[float, "deg"]

FOOT_M = 0.3048  # international foot, exact
NAUTICAL_MILE_M = 1852.0  # international nautical mile, exact
KNOT_MPS = NAUTICAL_MILE_M / 3600.0


def ft(value: float) -> Metres:
    """Feet to metres."""
    return value * FOOT_M


def nm(value: float) -> Metres:
    """Nautical miles to metres."""
    return value * NAUTICAL_MILE_M


def flight_level(level: float) -> Metres:
    """Flight level (hundreds of feet) to metres."""
    return level * 100.0 * FOOT_M
