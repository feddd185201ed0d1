"""The ``footprint_complexity`` limit through the service, on a real store (both backends):
the worst footprint it admits is declared, and the pair of two such footprints is found in
conflict; one step worse is refused naming the limit and its value, on operations, dry runs
and constraints, and nothing is stored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deconfliction.engine.footprint import footprint_complexity
from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.limits import Limits
from deconfliction.model.party import Role
from deconfliction.model.volume import PolygonFootprint, Volume
from deconfliction.service import constraints, operations
from deconfliction.service.errors import ConflictRefused, LimitExceeded
from deconfliction.service.line import Line
from support.service_level import T0, add_parties

pytestmark = pytest.mark.anyio


def comb(teeth: int, lon: float, lat: float, height: float, extra: float = 0.0
         ) -> PolygonFootprint:
    """A zig-zag of ``teeth`` teeth over 0.05° on a straight base; ``extra`` lengthens the
    last tooth (a longer edge is cut into more 0.01° steps)."""
    top = [(round(lon + 0.05 * i / (2 * teeth - 1), 7),
            round(lat + (height if i % 2 else 0.001), 7)) for i in range(2 * teeth)]
    top[-1] = (top[-1][0], round(top[-1][1] + extra, 7))
    ring = [(lon, lat - 0.001), (lon + 0.05, lat - 0.001), *top[::-1]]
    return PolygonFootprint((tuple([*ring, ring[0]]),))


def volume(footprint: PolygonFootprint) -> Volume:
    return Volume(footprint, 0.0, 3000.0, T0 + 7200, T0 + 10800)


WORST = comb(100, 37.0, 36.0, 0.03)
LIMITS = Limits(footprint_complexity=footprint_complexity(WORST))


def _limited(line: Line) -> Line:
    return replace(line, settings=replace(line.settings, limits=LIMITS))


def test_the_measure_counts_vertices_once_densified() -> None:
    square = PolygonFootprint((((37.0, 36.0), (37.1, 36.0), (37.1, 36.1), (37.0, 36.1),
                                (37.0, 36.0)),))
    assert footprint_complexity(square) == 40  # four 0.1° edges of ten 0.01° steps
    assert footprint_complexity(WORST) > 100 * 2 * 3  # each 0.03° tooth edge is 3+ steps
    assert footprint_complexity(comb(100, 37.0, 36.0, 0.03, extra=0.005)) == \
        footprint_complexity(WORST) + 1


async def test_the_worst_footprint_admitted_is_declared_and_its_pair_conflicts(
        line: Line) -> None:
    line = _limited(line)
    who = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    stored = await operations.declare_operation(
        line, who["blue"], operations.DeclareOperation((volume(WORST),), priority=5), T0)
    over = comb(100, 37.0003, 36.004, 0.03)  # interleaved with it, as jagged
    assert footprint_complexity(over) <= LIMITS.footprint_complexity
    answer = await operations.check_operation(
        line, who["red"], operations.DeclareOperation((volume(over),)), T0)
    assert isinstance(answer, ConflictRefused)
    assert [c["operation_id"] for c in answer.extensions["conflicts"]] == \
        [stored.operation.id]


async def test_one_step_worse_is_refused_naming_the_limit(line: Line) -> None:
    line = _limited(line)
    who = await add_parties(line, blue=Role.OPERATOR, mission=Role.AUTHORITY)
    worse = (volume(comb(100, 37.0, 36.0, 0.03, extra=0.005)),)
    attempts = [
        operations.declare_operation(line, who["blue"], operations.DeclareOperation(worse), T0),
        operations.check_operation(line, who["blue"], operations.DeclareOperation(worse), T0),
        constraints.publish_constraint(line, who["mission"], constraints.PublishConstraint(
            kind=ConstraintKind.NO_FLY, volumes=worse), T0),
    ]
    for attempt in attempts:
        with pytest.raises(LimitExceeded) as refused:
            await attempt
        assert refused.value.extensions == {
            "limit": "footprint_complexity", "value": LIMITS.footprint_complexity,
            "field": "volumes[0].footprint"}
        assert str(LIMITS.footprint_complexity) in refused.value.detail
    assert await line.store.interact(lambda repo: repo.operations(ids=None)) == []
    assert await line.store.interact(lambda repo: repo.constraints()) == []
