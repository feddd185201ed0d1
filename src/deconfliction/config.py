"""Deployment configuration: a TOML file read once at start-up.

```toml
separation_profile = "rule-of-threes"   # en-route (default), terminal, drone, or your own
notice_period_s = 3600
detection_interval_s = 1.0              # tactical cycle; 0 turns the detector off
track_coast_s = 5                       # unreported this long: coasting
track_drop_s = 20                       # ... dropped (with an event)
same_party_conflicts = false            # also alert on pairs of one party's aircraft

[profiles.wide-berth]                   # a custom profile
horizontal_m = 20000
vertical_m = 600
look_ahead_s = 180

[hotline]                               # reply deadlines before escalation (any subset)
deadlines_s = {distress = 30, urgent = 60, routine = 600}

[stream]
heartbeat_s = 15                        # ": heartbeat" on a quiet SSE stream
poll_s = 0.25                           # streams also poll (events from other processes)

[webhooks]
timeout_s = 5                           # one POST to a party's webhook
retry_min_s = 0.5                       # back-off after a failure, doubling (jittered) ...
retry_max_s = 60                        # ... up to this

webhook_allow = ["127.0.0.1/32"]        # (top level) non-public webhook targets allowed

[limits]                                # the cost model (`model.limits.Limits`; README "Limits")
volumes_per_operation = 100
vertices_per_polygon = 1000
messages_per_minute = 600               # per party

[log]
level = "info"                          # debug, info (an access log line a request), warning, error
format = "text"                         # or "json": one JSON object a line (also --log-format)

[metrics]
enabled = false                         # GET /metrics (Prometheus text): observers, or loopback
```
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from deconfliction.model.limits import LIMIT_NAMES, Limits
from deconfliction.model.message import Urgency
from deconfliction.model.profiles import BUILTIN_PROFILES, DEFAULT_PROFILE, SeparationProfile
from deconfliction.service.line import LineSettings

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "ConfigError", "Limits", "ServerSettings",
           "load_server_settings", "load_settings"]

KNOWN_KEYS = {"separation_profile", "notice_period_s", "profiles", "detection_interval_s",
              "track_coast_s", "track_drop_s", "same_party_conflicts", "hotline", "stream",
              "webhooks", "limits", "webhook_allow", "log", "metrics"}
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
_SECONDS = ("notice_period_s", "detection_interval_s", "track_coast_s", "track_drop_s")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says why and where."""


def _profiles(table: Any) -> dict[str, SeparationProfile]:
    profiles = dict(BUILTIN_PROFILES)
    if not isinstance(table, dict):
        raise ConfigError("[profiles] must be a table of named profiles")
    for name, values in table.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[profiles.{name}] must be a table")
        unknown = set(values) - {"horizontal_m", "vertical_m", "look_ahead_s"}
        if unknown:
            raise ConfigError(f"[profiles.{name}]: unknown keys {sorted(unknown)}")
        try:
            profiles[name] = SeparationProfile(
                name, float(values["horizontal_m"]), float(values["vertical_m"]),
                float(values.get("look_ahead_s", 120.0)))
        except KeyError as missing:
            raise ConfigError(f"[profiles.{name}]: {missing.args[0]} is required") from None
        except (TypeError, ValueError) as error:
            raise ConfigError(f"[profiles.{name}]: {error}") from None
    return profiles


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where} must be a number of seconds > 0")
    return float(value)


def _table(data: dict[str, Any], name: str, keys: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    unknown = set(table) - keys
    if unknown:
        raise ConfigError(f"[{name}]: unknown keys {sorted(unknown)}; known: {sorted(keys)}")
    return table


def _live(settings: LineSettings, data: dict[str, Any]) -> LineSettings:
    """The ``[hotline]``, ``[stream]`` and ``[webhooks]`` tables."""
    hotline = _table(data, "hotline", {"deadlines_s"})
    if "deadlines_s" in hotline:
        given = hotline["deadlines_s"]
        if not isinstance(given, dict):
            raise ConfigError("[hotline] deadlines_s must be a table, e.g. "
                              "{distress = 30, urgent = 60, routine = 600}")
        known = {u.value for u in Urgency}
        unknown = set(given) - known
        if unknown:
            raise ConfigError(f"[hotline] deadlines_s: unknown urgencies {sorted(unknown)}; "
                              f"known: {sorted(known)}")
        deadlines = dict(settings.reply_deadlines_s)
        for name, value in given.items():
            deadlines[Urgency(name)] = _positive(value, f"[hotline] deadlines_s.{name}")
        settings = replace(settings, reply_deadlines_s=deadlines)
    stream = _table(data, "stream", {"heartbeat_s", "poll_s"})
    if "heartbeat_s" in stream:
        settings = replace(settings, heartbeat_s=_positive(stream["heartbeat_s"],
                                                           "[stream] heartbeat_s"))
    if "poll_s" in stream:
        settings = replace(settings, stream_poll_s=_positive(stream["poll_s"],
                                                             "[stream] poll_s"))
    webhooks = _table(data, "webhooks", {"timeout_s", "retry_min_s", "retry_max_s"})
    for key in ("timeout_s", "retry_min_s", "retry_max_s"):
        if key in webhooks:
            timing: dict[str, Any] = {f"webhook_{key}": _positive(webhooks[key],
                                                                  f"[webhooks] {key}")}
            settings = replace(settings, **timing)
    if settings.webhook_retry_min_s > settings.webhook_retry_max_s:
        raise ConfigError("[webhooks] retry_min_s must not exceed retry_max_s")
    return settings


def _webhook_allow(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``webhook_allow``: networks webhooks may reach although they are not public (loopback
    for tests, an operator's own receivers); by default only public addresses are."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError('webhook_allow must be a list of networks, e.g. ["127.0.0.1/32"]')
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)
    except ValueError as error:
        raise ConfigError(f"webhook_allow: {error}") from None


def _limits(data: dict[str, Any]) -> Limits:
    """The ``[limits]`` table: any subset of `Limits`' fields, each a positive number (an
    integer where the default is one)."""
    table = _table(data, "limits", set(LIMIT_NAMES))
    limits = Limits()
    kinds = {f.name: type(getattr(limits, f.name)) for f in dataclass_fields(Limits)}
    given: dict[str, Any] = {}
    for key, value in table.items():
        kind = kinds[key]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int)) or not value > 0):
            wanted = "an integer" if kind is int else "a number"
            raise ConfigError(f"[limits] {key} must be {wanted} > 0")
        given[key] = kind(value)
    return replace(limits, **given)


def _read(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``, or a `ConfigError` saying why not."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def load_settings(path: Path | None) -> LineSettings:
    """Settings from ``path`` (defaults where it is silent, or when there is no file)."""
    if path is None:
        return LineSettings()
    data = _read(path)
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
    profiles = _profiles(data.get("profiles", {}))
    name = data.get("separation_profile", DEFAULT_PROFILE)
    if name not in profiles:
        raise ConfigError(f"{path}: unknown separation_profile {name!r}; "
                          f"known: {', '.join(sorted(profiles))}")
    settings = replace(LineSettings(), profile=profiles[name])
    for key in _SECONDS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{path}: {key} must be a number of seconds ≥ 0")
            seconds: dict[str, Any] = {key: float(value)}
            settings = replace(settings, **seconds)
    if "same_party_conflicts" in data:
        if not isinstance(data["same_party_conflicts"], bool):
            raise ConfigError(f"{path}: same_party_conflicts must be true or false")
        settings = replace(settings, same_party_conflicts=data["same_party_conflicts"])
    try:
        if "webhook_allow" in data:
            settings = replace(settings, webhook_allow=_webhook_allow(data["webhook_allow"]))
        return replace(_live(settings, data), limits=_limits(data))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


@dataclass(frozen=True)
class ServerSettings:
    """How the server process reports on itself (not the line's behaviour): its log level and
    format (``[log]``), and whether it serves ``/metrics`` (``[metrics]``, off by default)."""

    log_level: str = "info"
    log_format: str = "text"
    metrics: bool = False


def load_server_settings(path: Path | None) -> ServerSettings:
    """The ``[log]`` and ``[metrics]`` tables of ``path`` (defaults without a file)."""
    if path is None:
        return ServerSettings()
    data = _read(path)
    try:
        log = _table(data, "log", {"level", "format"})
        metrics = _table(data, "metrics", {"enabled"})
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    level = log.get("level", "info")
    if level not in LOG_LEVELS:
        raise ConfigError(f"{path}: [log] level must be one of {', '.join(LOG_LEVELS)}")
    form = log.get("format", "text")
    if form not in LOG_FORMATS:
        raise ConfigError(f"{path}: [log] format must be one of {', '.join(LOG_FORMATS)}")
    enabled = metrics.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}: [metrics] enabled must be true or false")
    return ServerSettings(log_level=level, log_format=form, metrics=enabled)
