"""Events: entries of a party's ordered, durable stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One entry in ``party``'s stream; ``seq`` is gap-free and increasing per party."""

    party: str
    seq: int
    kind: str
    time: float
    data: dict[str, Any]
