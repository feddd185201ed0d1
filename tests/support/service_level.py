"""Helpers of the service-level tests (``tests/service/``): a fake clock for the line, parties
made through the service, a party's stream read back from the store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from deconfliction.model.event import Event
from deconfliction.model.party import Party, Role
from deconfliction.service import parties
from deconfliction.service.line import Line

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: any fixed instant will do


class FakeClock:
    """The line's clock: UTC seconds that move only when the test moves them."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, seconds_after_t0: float) -> float:
        """Set the time to ``T0 + seconds_after_t0`` and return it."""
        self.now = T0 + seconds_after_t0
        return self.now


async def add_parties(line: Line, **roles: Role) -> dict[str, Party]:
    """Register parties by name (``blue=Role.OPERATOR, ...``) through the service."""
    made = {}
    for name, role in roles.items():
        made[name], _token = await parties.add_party(line, name, role, line.clock())
    return made


async def events(line: Line, party: str, kind: str | None = None, **data: Any) -> list[Event]:
    """``party``'s stream, of one kind if given, whose data hold ``data``."""
    found = await line.store.interact(lambda repo: repo.events(party, after=0, limit=100_000))
    return [e for e in found if (kind is None or e.kind == kind)
            and all(e.data.get(k) == v for k, v in data.items())]


def counter(prefix: str) -> Iterator[str]:
    """Predictable ids (``alert-1``, ``alert-2``, ...) for the detection cycle."""
    n = 0
    while True:
        n += 1
        yield f"{prefix}-{n}"
