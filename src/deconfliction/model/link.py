"""The line itself: each party's declared status, escalation contacts, and link tests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PartyStatus(StrEnum):
    NORMAL = "normal"
    TALKS_SUSPENDED = "talks_suspended"  # shown to all; the line delivers all the same


@dataclass(frozen=True, slots=True)
class PartyLink:
    """What a party has declared about its end of the line."""

    party: str
    status: PartyStatus = PartyStatus.NORMAL
    status_at: float | None = None
    contacts: tuple[str, ...] = ()  # escalation contacts: other parties' names


@dataclass(frozen=True, slots=True)
class LinkTest:
    """A link test sent to every party; ``acks`` maps a party to when its client answered."""

    id: str
    sender: str
    time: float
    acks: dict[str, float]
