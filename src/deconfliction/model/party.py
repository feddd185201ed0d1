"""Parties: operators declare, authorities constrain, observers read everything."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    AUTHORITY = "authority"
    OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class Party:
    """A participant of the line; authenticates with a bearer token stored only as a hash."""

    name: str
    role: Role
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def sees_everything(self) -> bool:
        """Observers read every field of every record (need-to-know exemption)."""
        return self.role is Role.OBSERVER
