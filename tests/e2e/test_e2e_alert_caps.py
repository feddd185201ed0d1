"""The alert caps over HTTP, on a real server per backend: two parties stack aircraft on one
point; the line raises no more than ``active_alerts`` of their alerts, tells both parties and
the observer once that alerts are held back (``alert.capped``), and a third party is told
nothing of it.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("conftest_tactical")

from conftest_tactical import (  # noqa: E402
    FAST_CONFIG,
    Feeder,
    Flight,
    aircraft_ids,
    alerts,
    events_of,
    uid,
    wait_for,
)

pytest_plugins = ["conftest_tactical"]

PER_CYCLE, ACTIVE, STACKED = 3, 5, 4  # 4 × 4 = 16 cross-party losses of separation
CAPS = f"[limits]\nalerts_per_cycle = {PER_CYCLE}\nactive_alerts = {ACTIVE}\n"


def test_stacked_aircraft_are_capped_and_the_parties_told_once(backend, server_factory,
                                                               api_for, area):
    srv = server_factory.start(backend, config=FAST_CONFIG + CAPS)
    api = api_for(srv)
    try:
        stack = {party: [uid(f"{party}-stk{k}") for k in range(STACKED)]
                 for party in ("blue", "red")}
        ids = set(stack["blue"]) | set(stack["red"])
        flights = [Flight(party, aid, area, 0.0, 0.0, 4000.0, 0.0)
                   for party, aids in stack.items() for aid in aids]

        def stacked_alerts() -> list[dict]:
            return [a for a in alerts(api, "watch", state="raised") if aircraft_ids(a) & ids]

        with Feeder(api, flights) as feeder:
            wait_for(lambda: len(stacked_alerts()) >= ACTIVE, 30.0, f"{ACTIVE} stacked alerts")
            for party in ("blue", "red"):
                wait_for(lambda p=party: [e for e in events_of(api, "watch", "alert.capped")
                                          if e["data"]["party"] == p],
                         30.0, f"the observer told that {party}'s alerts are held back")
            # a few more cycles (0.5 s each, as the feeder's batches): still the cap, no more
            fed = feeder.batches
            wait_for(lambda: feeder.batches >= fed + 4, 30.0, "four more batches")
            assert len(stacked_alerts()) == ACTIVE
        for party in ("blue", "red"):
            (capped,) = events_of(api, party, "alert.capped")
            assert capped["data"] == {"party": party, "held_back": capped["data"]["held_back"],
                                      "alerts_per_cycle": PER_CYCLE, "active_alerts": ACTIVE}
            assert capped["data"]["held_back"] > 0
        assert events_of(api, "spare", "alert.capped") == []  # concerned by nothing
    finally:
        api.close()
