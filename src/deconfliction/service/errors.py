"""Coded errors raised deep in the service, mapped to HTTP once at the edge (api/problems.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: a dotted path with [i] indices, and what is wrong with it."""

    field: str  # noqa: A003
    message: str


class LineError(Exception):
    """Base of every error a party may see; ``code`` is stable, ``detail`` is for humans."""

    code = "error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class Unauthenticated(LineError):
    code = "unauthorized"


class PermissionDenied(LineError):
    code = "forbidden"


class NotFound(LineError):
    code = "not_found"


MAX_LISTED = 20
"""Field errors listed in one problem; past that they are counted (``errors_omitted``), so a
body of a million wrong elements cannot make a problem document of a million entries."""


class ValidationFailed(LineError):
    code = "validation_error"

    def __init__(self, errors: list[FieldError], *, omitted: int = 0) -> None:
        listed, omitted = errors[:MAX_LISTED], omitted + max(0, len(errors) - MAX_LISTED)
        detail = "; ".join(f"{e.field}: {e.message}" for e in listed)
        extra: dict[str, Any] = {"errors_omitted": omitted} if omitted else {}
        super().__init__(detail + (f" (and {omitted} more)" if omitted else ""),
                         errors=[{"field": e.field, "message": e.message} for e in listed],
                         **extra)
        self.errors = listed


class RateLimited(LineError):
    """Over a limit that time lifts (a rate, a count of things held open): try again after
    ``retry_after_s`` seconds. The problem names the limit and its value."""

    code = "rate_limited"

    def __init__(self, detail: str, *, limit: str, value: float, retry_after_s: float) -> None:
        super().__init__(detail, limit=limit, value=value)
        self.retry_after_s = retry_after_s


class OvnMismatch(LineError):
    """The caller's version token is not the current one: it has not seen the latest state."""

    code = "ovn_mismatch"


class AlreadyEnded(LineError):
    code = "ended"


class AlreadyExists(LineError):
    code = "already_exists"


class Refusal(LineError):
    """A plan the rules refuse, with what it conflicts with and how it could be moved."""

    always: tuple[str, ...] = ()  # extension members present even when empty

    def __init__(
        self,
        detail: str,
        *,
        conflicts: list[dict[str, Any]] | None = None,
        constraints: list[dict[str, Any]] | None = None,
        missing_ovns: list[dict[str, Any]] | None = None,
        suggestions: list[dict[str, Any]] | None = None,
    ) -> None:
        members = {"conflicts": conflicts, "constraints": constraints,
                   "missing_ovns": missing_ovns, "suggestions": suggestions}
        super().__init__(detail, **{k: v or [] for k, v in members.items()
                                    if v or k in self.always})


class ConflictRefused(Refusal):
    code = "conflict"
    always = ("conflicts", "suggestions")


class ConstraintRefused(Refusal):
    code = "constraint"
    always = ("constraints", "suggestions")


class ShortNoticeRefused(Refusal):
    code = "short_notice"
    always = ("conflicts", "suggestions")


class MissingOvns(Refusal):
    code = "missing_ovns"
    always = ("missing_ovns",)


class LimitExceeded(LineError):
    """A request over one of the line's limits (`model.limits.Limits`) that waiting will not
    lift: names the limit and its value (and the offending field, if one); ``status`` is 400
    (a shape or count the line will not take) or 413 (a body too large)."""

    code = "limit_exceeded"

    def __init__(self, detail: str, *, limit: str, value: float, status: int = 400,
                 field: str | None = None) -> None:
        members: dict[str, Any] = {"limit": limit, "value": value}
        if field is not None:
            members["field"] = field
        super().__init__(detail, **members)
        self.status = status
