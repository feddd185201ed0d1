"""The line's limits through the service with a fake clock, on a real store, both backends:
per-minute rates refill with time and are per party, a refused batch stores nothing, counts
are refused before any geometry is built; and the ``[limits]`` table of the configuration.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from deconfliction.config import ConfigError, load_settings
from deconfliction.model.limits import Limits
from deconfliction.model.message import ReplyKind, Urgency
from deconfliction.model.party import Role
from deconfliction.model.track import StateReport
from deconfliction.model.volume import CircleFootprint, PolygonFootprint, Volume
from deconfliction.service import hotline, tracks
from deconfliction.service.errors import LimitExceeded, RateLimited
from deconfliction.service.line import Line
from deconfliction.service.validation import check_volumes
from support.service_level import T0, FakeClock, add_parties

pytestmark = pytest.mark.anyio

SMALL = Limits(reports_per_batch=20, new_aircraft_per_batch=5, new_aircraft_per_minute=8,
               messages_per_minute=3)


def _small(line: Line) -> Line:
    return replace(line, settings=replace(line.settings, limits=SMALL))


def _reports(ids: list[str], now: float) -> list[StateReport]:
    return [StateReport(i, now - 1.0, 36.0, 37.0, 1000.0, 100.0, 90.0, 0.0) for i in ids]


async def _aircraft(line: Line) -> set[str]:
    return {a.id for a in await line.store.interact(lambda repo: repo.aircraft([
        f"{p}{k}" for p in ("n", "m", "late", "x") for k in range(30)]))}


async def test_new_aircraft_per_batch_and_per_minute(line: Line, clock: FakeClock) -> None:
    line = _small(line)
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    with pytest.raises(LimitExceeded) as refused:
        await tracks.report_tracks(line, who["blue"], _reports([f"n{k}" for k in range(6)], T0),
                                   T0)
    assert refused.value.extensions == {"limit": "new_aircraft_per_batch", "value": 5,
                                        "field": "reports"}
    assert await _aircraft(line) == set(), "a refused batch registers nothing"
    with pytest.raises(LimitExceeded) as refused:
        await tracks.report_tracks(line, who["blue"], _reports(["x0"] * 21, T0), T0)
    assert refused.value.extensions["limit"] == "reports_per_batch"

    await tracks.report_tracks(line, who["blue"], _reports([f"n{k}" for k in range(5)], T0), T0)
    await tracks.report_tracks(line, who["blue"], _reports([f"m{k}" for k in range(3)], T0), T0)
    with pytest.raises(RateLimited) as late:
        await tracks.report_tracks(line, who["blue"], _reports(["late0"], T0), T0)
    assert late.value.extensions == {"limit": "new_aircraft_per_minute", "value": 8}
    assert late.value.retry_after_s == pytest.approx(60 / 8)
    assert "late0" not in await _aircraft(line)
    # another party has its own allowance; known aircraft report on
    await tracks.report_tracks(line, who["red"], _reports(["x1"], T0), T0)
    await tracks.report_tracks(line, who["blue"], _reports(["n0", "m0"], T0 + 0.5), T0 + 0.5)
    # the bucket refills evenly: one more new aircraft every 7.5 s
    now = clock.at(7.5)
    await tracks.report_tracks(line, who["blue"], _reports(["late0"], now), now)
    assert "late0" in await _aircraft(line)


async def test_messages_per_minute_refill_and_replies_unlimited(line: Line,
                                                                clock: FakeClock) -> None:
    line = _small(line)
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)

    async def send(now: float) -> str:
        sent = await hotline.send_message(line, who["blue"], to="red", urgency=Urgency.ROUTINE,
                                          subject="crossing", body="", refs=[], now=now)
        return sent.value[0].id

    ids = [await send(T0) for _ in range(3)]
    with pytest.raises(RateLimited) as refused:
        await send(T0 + 1)
    assert refused.value.extensions == {"limit": "messages_per_minute", "value": 3}
    assert 1.0 <= refused.value.retry_after_s <= 20.0
    for message_id in ids:  # replies are never limited
        await hotline.reply(line, who["red"], message_id, ReplyKind.ACKNOWLEDGED, None,
                            T0 + 2)
    await send(clock.at(21))  # 20 s refill one message


def _comb(n: int) -> PolygonFootprint:
    """``n`` vertices zig-zagging over 0.9° × 0.9° (as bench/geometry.py draws it)."""
    k = n - 2
    pts = [(37.0 + 0.9 * i / k, 36.0 + (0.9 if i % 2 == 0 else 0.001)) for i in range(k)]
    pts += [(37.9, 35.99), (37.0, 35.99)]
    return PolygonFootprint((tuple([*pts, pts[0]]),))


def test_counts_are_refused_before_any_geometry() -> None:
    """A polygon over vertices_per_polygon is refused as such even when it is not valid (its
    coordinates are never looked at), and so is an operation over volumes_per_operation."""
    broken = PolygonFootprint((tuple([(math.nan, 0.0)] * 1002),))
    with pytest.raises(LimitExceeded) as refused:
        check_volumes([Volume(broken, 0, 1, T0 + 10, T0 + 20)], now=T0, horizon_s=86400,
                      limits=Limits())
    assert refused.value.extensions["limit"] == "vertices_per_polygon"
    circle = Volume(CircleFootprint((37.0, 36.0), 1000.0), 0, 1, T0 + 10, T0 + 20)
    with pytest.raises(LimitExceeded) as refused:
        check_volumes([circle] * 101, now=T0, horizon_s=86400, limits=Limits())
    assert refused.value.extensions == {"limit": "volumes_per_operation", "value": 100,
                                        "field": "volumes"}
    jagged = Volume(_comb(1000), 0, 1, T0 + 10, T0 + 20)
    # just inside the counts; its 0.9° teeth are over footprint_complexity (its own test:
    # tests/service/test_footprint_complexity.py)
    check_volumes([jagged], now=T0, horizon_s=86400,
                  limits=Limits(footprint_complexity=100_000))
    with pytest.raises(LimitExceeded) as refused:
        check_volumes([jagged], now=T0, horizon_s=86400, limits=Limits())
    assert refused.value.extensions["limit"] == "footprint_complexity"


def test_limits_table_in_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "line.toml"
    config.write_text("[limits]\nvolumes_per_operation = 5\narea_km2 = 50\n")
    limits = load_settings(config).limits
    assert (limits.volumes_per_operation, limits.area_km2) == (5, 50.0)
    assert limits.messages_per_minute == Limits().messages_per_minute
    for bad in ("volumes_per_operation = 0", "volumes_per_operation = 2.5",
                "volumes_per_operation = true", "no_such_limit = 3", "area_km2 = -1"):
        config.write_text(f"[limits]\n{bad}\n")
        with pytest.raises(ConfigError, match="limits"):
            load_settings(config)
