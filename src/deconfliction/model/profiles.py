"""Separation profiles: named horizontal and vertical minima with a tactical look-ahead."""

from __future__ import annotations

from dataclasses import dataclass

from deconfliction.model.units import Metres, Seconds, ft, nm


@dataclass(frozen=True, slots=True)
class SeparationProfile:
    """Minima two parties' operations or aircraft must keep: closer on both axes is a conflict."""

    name: str
    horizontal_m: Metres
    vertical_m: Metres
    look_ahead_s: Seconds = 120.0  # EUROCONTROL STCA look-ahead

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a separation profile needs a name")
        if not (self.horizontal_m > 0 and self.vertical_m > 0):
            raise ValueError(f"profile {self.name!r}: minima must be positive")
        if not 0 < self.look_ahead_s <= 1200:  # up to 20 min: EUROCONTROL MTCD planning alerts
            raise ValueError(f"profile {self.name!r}: look_ahead_s must be in (0, 1200]")


BUILTIN_PROFILES: dict[str, SeparationProfile] = {
    # ICAO Doc 4444 §8.7.3: 5 NM radar separation; 1000 ft vertical (RVSM)
    "en-route": SeparationProfile("en-route", nm(5), ft(1000)),
    # ICAO Doc 4444 §8.7.3.2: 3 NM in terminal areas
    "terminal": SeparationProfile("terminal", nm(3), ft(1000)),
    # the practice reported between the two air forces over Syria: 3 NM or 3000 ft
    "rule-of-threes": SeparationProfile("rule-of-threes", nm(3), ft(3000)),
    # RTCA DO-365B well clear for drones: 4000 ft (0.66 NM) horizontal, 450 ft vertical
    "drone": SeparationProfile("drone", nm(0.66), ft(450)),
}

DEFAULT_PROFILE = "en-route"
