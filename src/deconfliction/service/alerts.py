"""Reading alerts by need-to-know (the rules are the access policy's: ``service.access``).

A party sees the alerts it is involved in: its aircraft, its operation, or (for an authority)
its constraint. Of another party's aircraft it sees only the state at alert time — position,
altitude and velocity — never its identity, callsign or party. Observers see everything.
"""

from __future__ import annotations

from typing import Any

from deconfliction.model.alert import Alert
from deconfliction.model.party import Party
from deconfliction.service import access, paging
from deconfliction.service.line import Line

ALERTS: paging.Order[Alert] = paging.Order("alerts", lambda a: (a.raised_at, a.id), (float, str))


async def list_alerts(
    line: Line, party: Party, *, active_only: bool, limit: int, cursor: str | None = None,
) -> paging.Page[tuple[Alert, dict[str, Any]]]:
    """Alerts concerning ``party``, newest first, a page at a time, each with its view as
    ``party`` may read it (`access.alert_view`)."""
    reader = None if party.sees_everything else party.name
    after = ALERTS.after(cursor)
    found = ALERTS.page(await line.store.interact(lambda repo: repo.alerts(
        party=reader, active_only=active_only, limit=limit + 1, after=after)), limit)
    shown = []
    for a in found:
        view = access.alert_view(a, party)
        if view is not None:
            shown.append((a, view))
    return paging.Page(shown, found.next)
