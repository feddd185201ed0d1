"""Bounded waits: poll until something holds, or fail with the last value seen. A bound is a
ceiling for a loaded machine, never a measurement: no test asserts how long anything took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(fn: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition",
             every_s: float = 0.1) -> Any:
    """Call ``fn`` until it returns a truthy value (returned) or ``timeout_s`` passes (fail)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}; last: {last!r}")
        time.sleep(every_s)
