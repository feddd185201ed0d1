"""Inputs from the outside world: ADS-B feeds, recordings and replays.

Feeds are an edge of the system: the only place (with the console) where aviation units
appear. Each feed converts to SI on the way in with the constants below, so that every layer
above sees metres, seconds and metres per second.

Modules (import them directly; this package imports nothing, so import order never matters):

- ``sbs``: BaseStation/SBS-1 text feed (port 30003 of dump1090/readsb): parser, state
  assembler, line formatters, asyncio client.
- ``opensky_sample``: real OpenSky state vectors shipped in the ``traffic`` wheel, for tests
  and benchmarks.
"""

from typing import Annotated

__all__ = [
    "FT_TO_M",
    "KT_TO_MPS",
    "FPM_TO_MPS",
    "Metres",
    "MetresPerSecond",
    "Seconds",
    "Degrees",
]

# Exact by definition: the international foot is 0.3048 m (1959 agreement); the knot is one
# nautical mile (1852 m, exact) per hour.
FT_TO_M = 0.3048
KT_TO_MPS = 1852.0 / 3600.0
FPM_TO_MPS = FT_TO_M / 60.0

Metres = Annotated[float, "m"]
MetresPerSecond = Annotated[float, "m/s"]
Seconds = Annotated[float, "s"]
Degrees = Annotated[float, "deg"]
