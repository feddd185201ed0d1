"""Reading alerts by need-to-know.

A party sees the alerts it is involved in: its aircraft, its operation, or (for an authority)
its constraint. Of another party's aircraft it sees only the state at alert time — position,
altitude and velocity — never its identity, callsign or party. Observers see everything.
"""

from __future__ import annotations

from typing import Any

from deconfliction.model.alert import Alert
from deconfliction.model.party import Party
from deconfliction.service.line import Line


def visible_details(details: dict[str, Any], party: str) -> dict[str, Any]:
    """``details`` as ``party`` may see them."""
    shown = dict(details)
    aircraft = []
    for entry in details.get("aircraft", []):
        if entry.get("party") == party:
            aircraft.append({**entry, "own": True})
        else:
            aircraft.append({"own": False, "state": entry.get("state")})
    shown["aircraft"] = aircraft
    return shown


async def list_alerts(
    line: Line, party: Party, *, active_only: bool, limit: int
) -> list[tuple[Alert, dict[str, Any]]]:
    """Alerts concerning ``party``, newest first, each with the details it may see."""
    reader = None if party.sees_everything else party.name
    found = await line.store.interact(
        lambda repo: repo.alerts(party=reader, active_only=active_only, limit=limit))
    return [(a, a.details if reader is None else visible_details(a.details, reader))
            for a in found]
