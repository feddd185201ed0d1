"""Checks on declared volumes that need no database: the line's limits first (cheap counts
before any geometry), then geometry, bands, windows and the planning horizon."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from deconfliction.engine.footprint import (
    footprint_area_m2,
    footprint_complexity,
    footprint_errors,
    footprint_span_m,
)
from deconfliction.model.limits import Limits
from deconfliction.model.volume import PolygonFootprint, Volume
from deconfliction.service.errors import FieldError, LimitExceeded, ValidationFailed

T = TypeVar("T")

LOOP_VOLUMES, LOOP_VERTICES = 4, 400
"""Volumes past these counts are checked on a worker thread (`off_loop`): checking costs
~0.5-1 ms a polygon volume (validity, area, span in a local plane), so a 100-volume operation
held the event loop, and every other party, for 50-120 ms."""


async def off_loop(volumes: Sequence[Volume], check: Callable[..., T], /,
                   *args: Any, **kwargs: Any) -> T:
    """``check(*args, **kwargs)`` — a check of ``volumes`` — on a worker thread when they are
    many or large, so the event loop is never held by one party's geometry; inline when small
    (the hop would cost more than the check)."""
    if len(volumes) > LOOP_VOLUMES or sum(map(_vertices, volumes)) > LOOP_VERTICES:
        return await asyncio.to_thread(check, *args, **kwargs)
    return check(*args, **kwargs)


def _vertices(volume: Volume) -> int:
    footprint = volume.footprint
    if isinstance(footprint, PolygonFootprint):
        return sum(max(0, len(ring) - 1) for ring in footprint.rings)
    return 0


def check_counts(volumes: Sequence[Volume], limits: Limits, *, field: str = "volumes") -> None:
    """Raise `LimitExceeded` when there are too many volumes or vertices: counted before any
    geometry is built, so their cost is bounded before it is paid."""
    if len(volumes) > limits.volumes_per_operation:
        raise LimitExceeded(
            f"{len(volumes)} volumes; at most {limits.volumes_per_operation} in one declaration",
            limit="volumes_per_operation", value=limits.volumes_per_operation, field=field)
    total = 0
    for i, volume in enumerate(volumes):
        n = _vertices(volume)
        if n > limits.vertices_per_polygon:
            raise LimitExceeded(
                f"{field}[{i}]: a polygon of {n} vertices; at most "
                f"{limits.vertices_per_polygon}", limit="vertices_per_polygon",
                value=limits.vertices_per_polygon, field=f"{field}[{i}].footprint.coordinates")
        total += n
    if total > limits.vertices_per_operation:
        raise LimitExceeded(
            f"{total} vertices over all volumes; at most {limits.vertices_per_operation}",
            limit="vertices_per_operation", value=limits.vertices_per_operation, field=field)


def _check_sizes(volume: Volume, limits: Limits, at: str) -> None:
    """Raise `LimitExceeded` for a valid volume too large in band, window, complexity, span or
    area (complexity before the area, which projects the footprint)."""
    band = volume.altitude_upper_m - volume.altitude_lower_m
    if band > limits.altitude_range_m:
        raise LimitExceeded(
            f"{at}: an altitude band {band:.0f} m high; at most {limits.altitude_range_m:g} m",
            limit="altitude_range_m", value=limits.altitude_range_m,
            field=f"{at}.altitude_upper_m")
    duration = volume.time_end - volume.time_start
    if duration > limits.duration_s:
        raise LimitExceeded(
            f"{at}: a time window of {duration:.0f} s; at most {limits.duration_s:g} s",
            limit="duration_s", value=limits.duration_s, field=f"{at}.time_end")
    complexity = footprint_complexity(volume.footprint)
    if complexity > limits.footprint_complexity:
        raise LimitExceeded(
            f"{at}: a footprint of complexity {complexity} (its vertices once every edge is "
            f"cut into 0.01° steps); at most {limits.footprint_complexity}",
            limit="footprint_complexity", value=limits.footprint_complexity,
            field=f"{at}.footprint")
    span_km = footprint_span_m(volume.footprint) / 1000.0
    if span_km > limits.span_km:
        raise LimitExceeded(
            f"{at}: a footprint {span_km:.0f} km across; at most {limits.span_km:g} km",
            limit="span_km", value=limits.span_km, field=f"{at}.footprint")
    area_km2 = footprint_area_m2(volume.footprint) / 1e6
    if area_km2 > limits.area_km2:
        raise LimitExceeded(
            f"{at}: a footprint of {area_km2:.0f} km²; at most {limits.area_km2:g} km²",
            limit="area_km2", value=limits.area_km2, field=f"{at}.footprint")


def volume_errors(
    volumes: Sequence[Volume], *, now: float, horizon_s: float, field: str = "volumes",
    limits: Limits | None = None,
) -> list[FieldError]:
    """Everything wrong with ``volumes`` as field errors named ``volumes[i].…``; raises
    `LimitExceeded` first if they are over one of ``limits`` (the defaults if not given)."""
    limits = limits or Limits()
    if not volumes:
        return [FieldError(field, "at least one volume is required")]
    check_counts(volumes, limits, field=field)
    errors: list[FieldError] = []
    for i, v in enumerate(volumes):
        at = f"{field}[{i}]"
        found = [FieldError(f"{at}.footprint.{sub}", message)
                 for sub, message in footprint_errors(v.footprint, max_area_m2=None)]
        lower, upper = v.altitude_lower_m, v.altitude_upper_m
        if not (math.isfinite(lower) and math.isfinite(upper)):
            found.append(FieldError(f"{at}.altitude_lower_m", "altitudes must be finite"))
        elif lower > upper:
            found.append(FieldError(f"{at}.altitude_lower_m",
                                    f"altitude_lower_m {lower} is above altitude_upper_m {upper}"))
        if v.time_end <= v.time_start:
            found.append(FieldError(f"{at}.time_end", "time_end must be after time_start"))
        elif v.time_end <= now:
            found.append(FieldError(f"{at}.time_end", "time_end is in the past"))
        if v.time_start > now + horizon_s:
            found.append(FieldError(
                f"{at}.time_start",
                f"time_start is more than {horizon_s / 86400:.0f} days ahead "
                "(the planning horizon, ASTM F3548-21)"))
        if not found:
            _check_sizes(v, limits, at)
        errors += found
    return errors


def check_volumes(
    volumes: Sequence[Volume], *, now: float, horizon_s: float, limits: Limits | None = None
) -> None:
    """Raise `LimitExceeded` or `ValidationFailed` naming every offending field."""
    errors = volume_errors(volumes, now=now, horizon_s=horizon_s, limits=limits)
    if errors:
        raise ValidationFailed(errors)
