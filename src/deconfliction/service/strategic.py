"""Assessing a plan against everything declared and closed near it (the strategic rules).

The rules, in the order a refusal is decided: a conflict with an applicable constraint; with an
operation of equal or higher priority; any conflict at short notice; a conflicting operation
whose current ``ovn`` the plan's awareness key lacks (ASTM F3548-21). What is left is accepted,
and the owners of lower-priority operations it conflicts with are told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deconfliction.engine.cells import search_cells
from deconfliction.engine.footprint import geographic_bounds
from deconfliction.engine.strategic import (
    Blocker,
    Proximity,
    conflict_region,
    conflicting,
    proximities,
    suggest_shifts,
)
from deconfliction.model.constraint import Constraint
from deconfliction.model.operation import Operation
from deconfliction.model.volume import Volume
from deconfliction.service.errors import (
    ConflictRefused,
    ConstraintRefused,
    MissingOvns,
    ShortNoticeRefused,
)
from deconfliction.service.line import LineSettings
from deconfliction.store.base import Repository

Subject = Operation | Constraint
Versions = frozenset[tuple[str, str, str]]
"""``(kind, id, ovn)`` of records indexed near a plan: what an assessment was made against."""
Search = tuple[Any, float, float, float, float]
"""One index search: cell ranges, window start and end, band lower and upper."""
_ANY_ALTITUDE = 1e7  # m: a band that holds every altitude, for suggestion searches


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a party asks to fly, before it is an operation: its volumes and priority
    (``exclude`` = its own old version)."""

    party: str
    volumes: tuple[Volume, ...]
    priority: int
    key: frozenset[str] = frozenset()
    exclude: str | None = None


@dataclass(slots=True)
class Surroundings:
    """Other parties' volumes near a plan, with what each belongs to and how it blocks."""

    volumes: list[Volume] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    versions: Versions = frozenset()  # every record found, own and excluded ones too


def searches(plan: Proposal, settings: LineSettings, *, widen_s: float = 0.0) -> list[Search]:
    """The index searches that find every volume within the minima of the plan's volumes.

    ``widen_s`` > 0 widens the window by that much each way and drops the altitude filter
    (what a search for time and altitude shifts needs).
    """
    h, v = settings.profile.horizontal_m, settings.profile.vertical_m
    found: list[Search] = []
    for volume in plan.volumes:
        t0, t1 = volume.time_start - widen_s, volume.time_end + widen_s
        lower, upper = (
            (-_ANY_ALTITUDE, _ANY_ALTITUDE) if widen_s
            else (volume.altitude_lower_m - v, volume.altitude_upper_m + v)
        )
        found.append((search_cells(geographic_bounds(volume.footprint), h, t0, t1),
                      t0, t1, lower, upper))
    return found


async def versions_at(repo: Repository, where: list[Search]) -> Versions:
    """The identity of what ``where`` finds now: ids and ovns from the index, no geometry —
    cheap enough to re-read inside the writer's unit of work."""
    found: set[tuple[str, str, str]] = set()
    for cells, t0, t1, lower, upper in where:
        found |= await repo.versions_near(cells, time_start=t0, time_end=t1,
                                          altitude_lower_m=lower, altitude_upper_m=upper)
    return frozenset(found)


async def surroundings(
    repo: Repository, plan: Proposal, settings: LineSettings, *, widen_s: float = 0.0
) -> Surroundings:
    """Every other party's indexed volume within the minima of the plan's volumes (see
    :func:`searches` for ``widen_s``), and the identity of every record found."""
    where = searches(plan, settings, widen_s=widen_s)
    seen: dict[tuple[str, str, int], Volume] = {}
    for cells, t0, t1, lower, upper in where:
        for found in await repo.volumes_near(cells, time_start=t0, time_end=t1,
                                             altitude_lower_m=lower, altitude_upper_m=upper):
            seen[(found.subject_kind, found.subject_id, found.ordinal)] = found.volume
    operation_ids = sorted({sid for kind, sid, _ in seen if kind == "operation"})
    constraint_ids = sorted({sid for kind, sid, _ in seen if kind == "constraint"})
    operations = {o.id: o for o in await repo.operations(ids=operation_ids, with_volumes=False)}
    constraints = {c.id: c for c in await repo.constraints(ids=constraint_ids)}
    ovns = {("operation", o.id): o.ovn for o in operations.values()}
    ovns.update({("constraint", c.id): c.ovn for c in constraints.values()})
    result = Surroundings(searches=where, versions=frozenset(
        (kind, sid, ovns.get((kind, sid), ""))  # "": gone since it was found (never equal)
        for kind, sid, _ in seen))
    for (kind, sid, _), volume in sorted(seen.items()):
        subject: Subject | None
        if kind == "operation":
            subject = operations.get(sid)
            if subject is None or subject.owner == plan.party or subject.id == plan.exclude:
                continue
            blocker = Blocker.PRIORITY if subject.priority >= plan.priority else Blocker.LOWER
        else:
            subject = constraints.get(sid)
            if subject is None or not subject.applies_to_party(plan.party):
                continue
            blocker = Blocker.CONSTRAINT
        result.volumes.append(volume)
        result.subjects.append(subject)
        result.blockers.append(blocker)
    return result


@dataclass(frozen=True, slots=True)
class Assessment:
    """The operations a plan conflicts with and the constraints it enters (shift 0)."""

    conflicts: dict[str, tuple[Operation, Proximity]]
    constraints: dict[str, tuple[Constraint, Proximity]]

    @property
    def operations(self) -> list[Operation]:
        return [o for o, _ in self.conflicts.values()]


def assess(plan: Proposal, around: Surroundings, settings: LineSettings) -> Assessment:
    """Which of ``around`` the plan conflicts with as it stands."""
    profile = settings.profile
    close = proximities(plan.volumes, around.volumes, horizontal_m=profile.horizontal_m)
    conflicts: dict[str, tuple[Operation, Proximity]] = {}
    constraints: dict[str, tuple[Constraint, Proximity]] = {}
    for pair in conflicting(plan.volumes, around.volumes, close, vertical_m=profile.vertical_m):
        subject = around.subjects[pair.other]
        if isinstance(subject, Constraint):
            constraints.setdefault(subject.id, (subject, pair))
        else:
            conflicts.setdefault(subject.id, (subject, pair))
    return Assessment(conflicts, constraints)


def is_short_notice(
    plan: Proposal, now: float, settings: LineSettings, shift_s: float = 0.0
) -> bool:
    """Whether the plan starts less than the notice period from now."""
    start = min(v.time_start for v in plan.volumes) + shift_s
    return start - now < settings.notice_period_s


def _region(plan: Proposal, around: Surroundings, pair: Proximity, settings: LineSettings) -> Any:
    return conflict_region(
        plan.volumes[pair.proposed], around.volumes[pair.other],
        horizontal_m=settings.profile.horizontal_m, vertical_m=settings.profile.vertical_m,
    )


async def suggestions(
    repo: Repository, plan: Proposal, now: float, settings: LineSettings, *, short_notice_rule: bool
) -> list[dict[str, Any]]:
    """Time and altitude shifts that would make the plan acceptable (see engine.strategic)."""
    window = settings.suggestion_window_s
    around = await surroundings(repo, plan, settings, widen_s=window)
    close = proximities(plan.volumes, around.volumes,
                        horizontal_m=settings.profile.horizontal_m)
    start = min(v.time_start for v in plan.volumes)
    found = suggest_shifts(
        plan.volumes, around.volumes, around.blockers, close,
        vertical_m=settings.profile.vertical_m,
        is_short_notice=lambda s: short_notice_rule and is_short_notice(plan, now, settings, s),
        time_range_s=(max(-window, now - start),
                      min(window, now + settings.planning_horizon_s - start)),
    )
    result = []
    for s in found:
        unit = "shift_s" if s.kind == "time_shift" else "shift_m"
        key = sorted({around.subjects[i].ovn for i in s.conflicts_with})
        result.append({"kind": s.kind, unit: s.shift, "volumes": list(s.volumes), "key": key})
    return result


async def check_plan(
    repo: Repository,
    plan: Proposal,
    now: float,
    settings: LineSettings,
    *,
    short_notice_rule: bool,
) -> list[Operation]:
    """Refuse the plan (raise a :class:`Refusal`) or return the lower-priority operations it
    conflicts with, whose owners must be told."""
    around = await surroundings(repo, plan, settings)
    return await judge(repo, plan, around, now, settings, short_notice_rule=short_notice_rule)


async def judge(
    repo: Repository,
    plan: Proposal,
    around: Surroundings,
    now: float,
    settings: LineSettings,
    *,
    short_notice_rule: bool,
) -> list[Operation]:
    """:func:`check_plan` against surroundings already read (``repo`` is read only for the
    suggestions that come with a refusal)."""
    found = assess(plan, around, settings)
    short = short_notice_rule and is_short_notice(plan, now, settings)

    async def advice() -> list[dict[str, Any]]:
        return await suggestions(repo, plan, now, settings, short_notice_rule=short_notice_rule)

    if found.constraints:
        names = ", ".join(c.name or c.id for c, _ in found.constraints.values())
        raise ConstraintRefused(
            f"the plan comes within the minima of closed airspace: {names}",
            constraints=[
                {"constraint_id": c.id, "authority": c.authority, "kind": c.kind.value,
                 "name": c.name, "region": _region(plan, around, pair, settings)}
                for c, pair in found.constraints.values()
            ],
            suggestions=await advice(),
        )
    described = [
        {"operation_id": o.id, "owner": o.owner, "priority": o.priority, "ovn": o.ovn,
         "region": _region(plan, around, pair, settings)}
        for o, pair in found.conflicts.values()
    ]
    blocking = [d for d in described if d["priority"] >= plan.priority]
    if blocking:
        raise ConflictRefused(
            f"the plan conflicts with {len(blocking)} operation(s) of equal or higher priority",
            conflicts=blocking, suggestions=await advice(),
        )
    if short and described:
        raise ShortNoticeRefused(
            "a plan starting within the notice period is accepted only if it conflicts with "
            f"nothing; it conflicts with {len(described)} operation(s)",
            conflicts=described, suggestions=await advice(),
        )
    missing = [o for o in found.operations if o.ovn not in plan.key]
    if missing:
        raise MissingOvns(
            "the awareness key lacks the current ovn of conflicting operation(s): "
            + ", ".join(o.id for o in missing),
            missing_ovns=[{"operation_id": o.id, "owner": o.owner, "ovn": o.ovn}
                          for o in missing],
        )
    return found.operations

