"""The line's settings and the things every use case needs, passed in (nothing global)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network

from deconfliction.model.limits import Limits
from deconfliction.model.message import Urgency
from deconfliction.model.profiles import BUILTIN_PROFILES, DEFAULT_PROFILE, SeparationProfile
from deconfliction.service.fair_gate import FairGate
from deconfliction.service.live import Live
from deconfliction.service.quota import Quotas
from deconfliction.service.unanswered import Unanswered
from deconfliction.service.webhook_targets import Resolver, resolve
from deconfliction.store.base import Store

PLANNING_HORIZON_S = 30 * 86400.0  # ASTM F3548-21: operations at most 30 days ahead
NOTICE_PERIOD_S = 3600.0  # below this, a declaration is short notice
SUGGESTION_WINDOW_S = 24 * 3600.0  # how far a suggested time shift may move a plan
DETECTION_INTERVAL_S = 1.0  # one tactical detection cycle a second
TRACK_COAST_S = 5.0  # a track unreported this long is coasting (extrapolated)
TRACK_DROP_S = 20.0  # ... and dropped after this long
# Hotline reply deadlines before escalation (DESIGN.md, "Numbers": distress 30 s, urgent 60 s,
# routine 10 min — a guard call must not go unanswered the way it did over Syria).
REPLY_DEADLINES_S: Mapping[Urgency, float] = {
    Urgency.DISTRESS: 30.0, Urgency.URGENT: 60.0, Urgency.ROUTINE: 600.0}
HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies and clients from timing out
STREAM_POLL_S = 0.25  # live streams also poll: other processes' events wake nobody here
WEBHOOK_TIMEOUT_S = 5.0  # one webhook POST, connect to last byte: a slow receiver waits alone
WEBHOOK_RETRY_MIN_S = 0.5  # a failed webhook POST is retried after this, doubling ...
WEBHOOK_RETRY_MAX_S = 60.0  # ... up to this (each jittered)


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Deployment settings (from the configuration file)."""

    profile: SeparationProfile = field(default_factory=lambda: BUILTIN_PROFILES[DEFAULT_PROFILE])
    notice_period_s: float = NOTICE_PERIOD_S
    planning_horizon_s: float = PLANNING_HORIZON_S
    suggestion_window_s: float = SUGGESTION_WINDOW_S
    detection_interval_s: float = DETECTION_INTERVAL_S
    track_coast_s: float = TRACK_COAST_S
    track_drop_s: float = TRACK_DROP_S
    same_party_conflicts: bool = False
    reply_deadlines_s: Mapping[Urgency, float] = field(
        default_factory=lambda: dict(REPLY_DEADLINES_S))
    heartbeat_s: float = HEARTBEAT_S
    stream_poll_s: float = STREAM_POLL_S
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    webhook_retry_min_s: float = WEBHOOK_RETRY_MIN_S
    webhook_retry_max_s: float = WEBHOOK_RETRY_MAX_S
    limits: Limits = field(default_factory=Limits)
    webhook_allow: tuple[IPv4Network | IPv6Network, ...] = ()  # non-public targets allowed


@dataclass(frozen=True, slots=True)
class Line:
    """What the use cases run against: a store, the settings, a clock (UTC seconds), and this
    process's live state (stream wake-ups, who is connected), and how host names are
    resolved (webhook targets; tests pass a fake)."""

    store: Store
    settings: LineSettings = field(default_factory=LineSettings)
    clock: Callable[[], float] = time.time
    live: Live = field(default_factory=Live)
    quotas: Quotas = field(default_factory=Quotas)  # per-party rates (this process's buckets)
    unanswered: Unanswered = field(default_factory=Unanswered)  # per sender → recipient
    resolve: Resolver = resolve
    gate: FairGate = field(default_factory=FairGate)  # costly jobs, one a party, in turn
