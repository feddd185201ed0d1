"""Webhooks: a party's own endpoint that its event stream is also pushed to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where ``party``'s events are POSTed, signed with ``secret`` (stored as given: it is
    needed to sign), and how far delivery has got: every event up to ``delivered_seq`` was
    answered with a 2xx; ``failures`` counts failed attempts at the next one, and
    ``last_error`` says what the last one met as a category (``timeout``, ``refused``,
    ``http_status_500``, ``not_public`` …), never the error's text."""

    party: str
    url: str
    secret: str
    created_at: float
    updated_at: float
    delivered_seq: int = 0
    delivered_at: float | None = None
    failures: int = 0
    last_error: str | None = None
    last_attempt_at: float | None = None
    next_attempt_at: float | None = None
