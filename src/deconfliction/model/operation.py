"""Operations: a party's declared intent — where and when, never why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deconfliction.model.volume import Volume


class OperationState(StrEnum):
    """ASTM F3548-21 operational intent states (``ended`` replaces deletion)."""

    ACCEPTED = "accepted"
    ACTIVATED = "activated"
    NONCONFORMING = "nonconforming"
    CONTINGENT = "contingent"
    ENDED = "ended"

    @property
    def deconflicted(self) -> bool:
        """Nominal states must be strategically deconflicted; off-nominal ones are not."""
        return self in (OperationState.ACCEPTED, OperationState.ACTIVATED)

    @property
    def monitored(self) -> bool:
        """Every state but ended: its aircraft are watched for conformance (ASTM F3548-21)."""
        return self is not OperationState.ENDED


@dataclass(frozen=True, slots=True)
class Operation:
    """A declared operation; ``ovn`` changes with every version (the awareness key token)."""

    id: str
    owner: str
    volumes: tuple[Volume, ...]
    priority: int
    state: OperationState
    ovn: str
    version: int
    short_notice: bool
    callsigns: tuple[str, ...]
    notes: str
    created_at: float
    updated_at: float

    @property
    def time_start(self) -> float:
        return min(v.time_start for v in self.volumes)

    @property
    def time_end(self) -> float:
        return max(v.time_end for v in self.volumes)
