"""Alerts: what the line tells parties about live traffic."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    CONFLICT = "conflict"  # predicted loss of separation within the look-ahead
    LOSS_OF_SEPARATION = "loss_of_separation"  # separation lost now
    CONSTRAINT_INCURSION = "constraint_incursion"  # inside, or about to enter, closed airspace
    NONCONFORMANCE = "nonconformance"  # outside every volume of its operation


class AlertState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert through its life; ``parties`` are those told, ``details`` the latest picture.

    ``details`` holds, per involved aircraft, its party and state at the latest update, and the
    encounter figures; views cut it down to what each party may know.
    """

    id: str
    kind: AlertKind
    key: tuple[str, ...]
    parties: tuple[str, ...]
    state: AlertState
    raised_at: float
    updated_at: float
    cleared_at: float | None
    details: dict[str, Any]
