"""A server process's long-lived heap, set aside from the garbage collector.

A full collection in CPython walks every object it tracks. After the service's imports
(SQLAlchemy, FastAPI, numba, pyproj ...) that is over 10^5 objects and tens of milliseconds
in which nothing else runs on the event loop: seen as 76 ms stalls in the ledger's signing pass
and at the top of the hotline's latency. What exists once the service has started (modules,
the app, compiled statements) lives as long as the process, so it is collected once and then
frozen (`gc.freeze`): later full collections walk only what was made since.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect once, then freeze what survived; the number of objects frozen.

    Call once a process has built what it keeps (``serve`` does, before it starts serving).
    Frozen objects are still freed when nothing refers to them; only a cycle among them would
    stay, which is why the collection comes first.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
