"""Service-level tests: the use cases and the line's clocks (detection cycle, conformance timers,
escalation, webhook retries) driven through the service layer with a fake clock.

The store is real (the ``store`` fixture of ``tests/conftest.py``: a SQLite file, and PostgreSQL
when ``DECONFLICTION_TEST_DATABASE_URL`` names a server); nothing of ours is mocked. Time is
whatever the test says it is: a 60 s timer runs in the milliseconds its cycles take. Helpers:
``tests/support/service_level.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from deconfliction.service.line import Line, LineSettings
from support.service_level import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def line(store: Any, clock: FakeClock) -> Line:
    """A line over a fresh real store (each backend), default settings, the fake clock."""
    return Line(store, LineSettings(), clock=clock)
