"""Volumes are validated off the event loop when they are many or large (`off_loop`): the
check runs on a worker thread, its answer and its errors are the caller's as if inline."""

from __future__ import annotations

import threading

import pytest

from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service.errors import ValidationFailed
from deconfliction.service.validation import LOOP_VERTICES, LOOP_VOLUMES, check_volumes, off_loop
from support.service_level import T0

pytestmark = pytest.mark.anyio


def circle(k: int) -> Volume:
    return Volume(CircleFootprint((37.0 + k * 0.01, 36.0), 500.0), 0, 100, T0 + 60, T0 + 120)


def ngon(n: int) -> Volume:
    ring = [(37.0 + 0.01 * (k % 2), 36.0 + 0.001 * k) for k in range(n)]  # self-crossing
    return Volume(PolygonFootprint((tuple([*ring, ring[0]]),)), 0, 100, T0 + 60, T0 + 120)


async def test_many_or_large_volumes_are_checked_on_a_worker_thread() -> None:
    loop_thread = threading.get_ident()

    def where(_volumes: list[Volume]) -> int:
        return threading.get_ident()

    few = [circle(k) for k in range(LOOP_VOLUMES)]
    many = [circle(k) for k in range(LOOP_VOLUMES + 1)]
    large = [ngon(LOOP_VERTICES + 1)]
    assert await off_loop(few, where, few) == loop_thread
    assert await off_loop(many, where, many) != loop_thread
    assert await off_loop(large, where, large) != loop_thread


async def test_errors_found_off_the_loop_are_raised_to_the_caller() -> None:
    large = [ngon(LOOP_VERTICES + 1)]
    with pytest.raises(ValidationFailed) as inline:
        check_volumes(large, now=T0, horizon_s=86400)
    with pytest.raises(ValidationFailed) as threaded:
        await off_loop(large, check_volumes, large, now=T0, horizon_s=86400)
    assert threaded.value.extensions == inline.value.extensions
