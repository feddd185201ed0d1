"""Times at the edges: RFC 3339 UTC strings for UTC seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)  # one write formats the same instant for its events, entry and view
def rfc3339(t: float) -> str:
    """UTC seconds as RFC 3339 with ``Z`` (millisecond precision when not whole).

    >>> rfc3339(0.0)
    '1970-01-01T00:00:00Z'
    >>> rfc3339(1.5)
    '1970-01-01T00:00:01.500Z'
    """
    moment = datetime.fromtimestamp(t, UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
