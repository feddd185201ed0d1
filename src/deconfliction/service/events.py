"""A party's event stream (read side; the hotline adds live delivery)."""

from __future__ import annotations

from deconfliction.model.event import Event
from deconfliction.model.party import Party
from deconfliction.service.errors import FieldError, ValidationFailed
from deconfliction.service.line import Line

MAX_EVENTS_PER_READ = 1000


async def read_events(line: Line, party: Party, *, after: int, limit: int) -> list[Event]:
    """The party's events with a sequence number above ``after``, in order."""
    if after < 0:
        raise ValidationFailed([FieldError("after", "must be 0 or more")])
    if not 1 <= limit <= MAX_EVENTS_PER_READ:
        raise ValidationFailed([FieldError("limit", f"must be 1..{MAX_EVENTS_PER_READ}")])
    return await line.store.interact(
        lambda repo: repo.events(party.name, after=after, limit=limit))
