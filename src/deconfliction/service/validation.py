"""Checks on declared volumes that need no database: geometry, bands, windows, horizon."""

from __future__ import annotations

import math
from collections.abc import Sequence

from deconfliction.engine.footprint import footprint_errors
from deconfliction.model.volume import Volume
from deconfliction.service.errors import FieldError, ValidationFailed


def volume_errors(
    volumes: Sequence[Volume], *, now: float, horizon_s: float, field: str = "volumes"
) -> list[FieldError]:
    """Everything wrong with ``volumes`` as field errors named ``volumes[i].…``."""
    if not volumes:
        return [FieldError(field, "at least one volume is required")]
    errors: list[FieldError] = []
    for i, v in enumerate(volumes):
        at = f"{field}[{i}]"
        errors += [FieldError(f"{at}.footprint.{sub}", message)
                   for sub, message in footprint_errors(v.footprint)]
        lower, upper = v.altitude_lower_m, v.altitude_upper_m
        if not (math.isfinite(lower) and math.isfinite(upper)):
            errors.append(FieldError(f"{at}.altitude_lower_m", "altitudes must be finite"))
        elif lower > upper:
            errors.append(FieldError(f"{at}.altitude_lower_m",
                                     f"altitude_lower_m {lower} is above altitude_upper_m {upper}"))
        if v.time_end <= v.time_start:
            errors.append(FieldError(f"{at}.time_end", "time_end must be after time_start"))
        elif v.time_end <= now:
            errors.append(FieldError(f"{at}.time_end", "time_end is in the past"))
        if v.time_start > now + horizon_s:
            errors.append(FieldError(
                f"{at}.time_start",
                f"time_start is more than {horizon_s / 86400:.0f} days ahead "
                "(the planning horizon, ASTM F3548-21)"))
    return errors


def check_volumes(volumes: Sequence[Volume], *, now: float, horizon_s: float) -> None:
    """Raise :class:`ValidationFailed` naming every offending field."""
    errors = volume_errors(volumes, now=now, horizon_s=horizon_s)
    if errors:
        raise ValidationFailed(errors)
