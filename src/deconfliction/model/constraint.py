"""Constraints: airspace an authority closes, for all operators or for named ones."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deconfliction.model.volume import Volume


class ConstraintKind(StrEnum):
    NO_FLY = "no_fly"
    RESTRICTED = "restricted"


class ConstraintState(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Constraint:
    """Closed volumes; ``applies_to`` None means every operator, else the named parties."""

    id: str
    authority: str
    kind: ConstraintKind
    name: str
    volumes: tuple[Volume, ...]
    applies_to: tuple[str, ...] | None
    exempt: tuple[str, ...]
    state: ConstraintState
    ovn: str
    version: int
    created_at: float
    updated_at: float

    def applies_to_party(self, party: str) -> bool:
        """Whether this constraint binds ``party`` (active, applicable and not exempt)."""
        if self.state is not ConstraintState.ACTIVE or party in self.exempt:
            return False
        return self.applies_to is None or party in self.applies_to
