"""A declaration is assessed outside the writer (the way a DSS uses ovns): the strategic check
runs in a read-only unit, and the write unit stores it only if the records it was assessed
against (the neighbours' ids and ovns, the replaced operation's ovn) are unchanged; if not, it
is assessed again — twice outside the writer, then inside it.

The races are made, not hoped for: the line's store is wrapped so that a test runs another
party's change between a declaration's read unit and its write unit (``Watched.between``).
Every backend the ``store`` fixture gives (SQLite; PostgreSQL when configured).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from deconfliction.model.constraint import ConstraintKind
from deconfliction.model.party import Role
from deconfliction.model.volume import CircleFootprint, Volume
from deconfliction.service import constraints, operations, strategic
from deconfliction.service.errors import ConflictRefused, MissingOvns, OvnMismatch
from deconfliction.service.line import Line, LineSettings
from support.service_level import T0, FakeClock, add_parties, events

pytestmark = pytest.mark.anyio

CENTRE = (37.0, 36.0)
PLAN = (Volume(CircleFootprint(CENTRE, 1000.0), 1000.0, 2000.0, T0 + 7200, T0 + 10800),)


class Watched:
    """The line's store, passing every unit through: runs each ``between`` hook (once) before
    the next write unit, and records whether a write unit is running (``held``)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.between: list[Callable[[], Awaitable[object]]] = []
        self.held = False
        self._between = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def interact(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        return await self._store.interact(work)

    async def transact(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        if self.between and not self._between:
            self._between = True  # the hook's own writes pass straight through
            try:
                await self.between.pop(0)()
            finally:
                self._between = False

        async def holding(repo: Any) -> Any:
            self.held = True
            try:
                return await work(repo)
            finally:
                self.held = False

        return await self._store.transact(holding)


@pytest.fixture
def watched(store: Any) -> Watched:
    return Watched(store)


@pytest.fixture
def line(watched: Watched, clock: FakeClock) -> Line:
    return Line(watched, LineSettings(), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def assessed(monkeypatch: pytest.MonkeyPatch, watched: Watched) -> list[bool]:
    """Whether the writer was held at each run of the pure assessment (the geometry)."""
    held: list[bool] = []
    real = strategic.assess

    def recording(*args: Any, **kwargs: Any) -> strategic.Assessment:
        held.append(watched.held)
        return real(*args, **kwargs)

    monkeypatch.setattr(strategic, "assess", recording)
    return held


async def _live(line: Line) -> list[operations.Operation]:
    return await line.store.interact(lambda repo: repo.operations())


async def test_two_conflicting_declarations_interleaved_one_is_accepted(
        line: Line, watched: Watched, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    declared: list[operations.Declared] = []

    async def red_declares() -> None:  # after blue's read unit, before its write unit
        declared.append(await operations.declare_operation(
            line, made["red"], operations.DeclareOperation(PLAN), clock()))

    watched.between.append(red_declares)
    with pytest.raises(ConflictRefused) as refused:
        await operations.declare_operation(
            line, made["blue"], operations.DeclareOperation(PLAN), clock())

    (red,) = declared
    assert [c["operation_id"] for c in refused.value.extensions["conflicts"]] == [
        red.operation.id]
    assert [o.id for o in await _live(line)] == [red.operation.id]


async def test_a_neighbour_replaced_in_between_is_assessed_again(
        line: Line, watched: Watched, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    low = await operations.declare_operation(
        line, made["red"], operations.DeclareOperation(PLAN), clock())
    replaced: list[operations.Declared] = []

    async def red_replaces() -> None:
        replaced.append(await operations.declare_operation(line, made["red"], (
            operations.DeclareOperation(PLAN, operation_id=low.operation.id,
                                        ovn=low.operation.ovn)), clock()))

    watched.between.append(red_replaces)
    # blue's key holds the ovn it read: accepted over red's lower priority, as it stood
    with pytest.raises(MissingOvns) as missing:
        await operations.declare_operation(line, made["blue"], operations.DeclareOperation(
            PLAN, priority=5, key=(low.operation.ovn,)), clock())

    assert missing.value.extensions["missing_ovns"] == [
        {"operation_id": low.operation.id, "owner": "red", "ovn": replaced[0].operation.ovn}]
    assert [o.owner for o in await _live(line)] == ["red"]


async def test_a_neighbour_ended_in_between_is_no_longer_told(
        line: Line, watched: Watched, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    low = await operations.declare_operation(
        line, made["red"], operations.DeclareOperation(PLAN), clock())
    watched.between.append(lambda: operations.end_operation(
        line, made["red"], low.operation.id, low.operation.ovn, clock()))

    declared = await operations.declare_operation(line, made["blue"], operations.DeclareOperation(
        PLAN, priority=5, key=(low.operation.ovn,)), clock())

    assert declared.overridden == ()
    assert await events(line, "red", "operation.conflict") == []


async def test_the_replaced_operation_changed_in_between_is_an_ovn_mismatch(
        line: Line, watched: Watched, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR)
    mine = await operations.declare_operation(
        line, made["blue"], operations.DeclareOperation(PLAN), clock())
    command = operations.DeclareOperation(PLAN, notes="second", operation_id=mine.operation.id,
                                          ovn=mine.operation.ovn)
    watched.between.append(lambda: operations.declare_operation(line, made["blue"], command,
                                                                clock()))

    with pytest.raises(OvnMismatch):
        await operations.declare_operation(line, made["blue"], command, clock())
    (stored,) = await _live(line)
    assert (stored.version, stored.notes) == (2, "second")


async def test_the_geometry_runs_outside_the_writer(
        line: Line, clock: FakeClock, assessed: list[bool]) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    low = await operations.declare_operation(
        line, made["red"], operations.DeclareOperation(PLAN), clock())
    declared = await operations.declare_operation(line, made["blue"], operations.DeclareOperation(
        PLAN, priority=5, key=(low.operation.ovn,)), clock())
    with pytest.raises(ConflictRefused):
        await operations.declare_operation(
            line, made["red"], operations.DeclareOperation(PLAN), clock())

    assert [o.id for o in declared.overridden] == [low.operation.id]
    assert len(assessed) == 3 and not any(assessed), assessed


async def test_a_line_that_keeps_changing_is_assessed_inside_the_writer_at_last(
        line: Line, watched: Watched, clock: FakeClock, assessed: list[bool]) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR)
    low = await operations.declare_operation(
        line, made["red"], operations.DeclareOperation(PLAN), clock())
    over = operations.DeclareOperation(PLAN, priority=5, key=(low.operation.ovn,))

    async def blue_adds() -> None:  # changes what is near (blue's own: no conflict)
        await operations.declare_operation(line, made["blue"], over, clock())

    watched.between += [blue_adds, blue_adds]  # before each optimistic write
    assessed.clear()
    declared = await operations.declare_operation(line, made["blue"], over, clock())

    assert [o.id for o in declared.overridden] == [low.operation.id]
    assert assessed[-1] is True  # the bounded fallback: assessed once more, in the writer
    assert assessed.count(True) == 1
    assert sorted(o.owner for o in await _live(line)) == ["blue", "blue", "blue", "red"]


async def test_the_identity_read_in_the_writer_is_what_the_check_found(
        line: Line, clock: FakeClock) -> None:
    made = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR, caa=Role.AUTHORITY)
    red = await operations.declare_operation(
        line, made["red"], operations.DeclareOperation(PLAN), clock())
    closed = await constraints.publish_constraint(line, made["caa"], constraints.PublishConstraint(
        ConstraintKind.RESTRICTED, PLAN, applies_to=("red",)), clock())
    plan = strategic.Proposal("blue", PLAN, 0)

    async def both(repo: Any) -> tuple[strategic.Versions, strategic.Versions]:
        around = await strategic.surroundings(repo, plan, line.settings)
        return around.versions, await strategic.versions_at(repo, around.searches)

    found, identity = await line.store.interact(both)
    assert found == identity == {("operation", red.operation.id, red.operation.ovn),
                                 ("constraint", closed.value.id, closed.value.ovn)}
    await operations.end_operation(line, made["red"], red.operation.id, red.operation.ovn,
                                   clock())
    found, identity = await line.store.interact(both)
    assert found == identity == {("constraint", closed.value.id, closed.value.ovn)}


async def test_conflicting_declarations_racing_for_real_one_is_accepted(
        line: Line, clock: FakeClock) -> None:
    made = await add_parties(line, **{f"p{i}": Role.OPERATOR for i in range(4)})
    outcomes = await asyncio.gather(*(
        operations.declare_operation(line, made[f"p{i}"], operations.DeclareOperation(PLAN),
                                     clock())
        for i in range(4)), return_exceptions=True)

    accepted = [o for o in outcomes if isinstance(o, operations.Declared)]
    assert len(accepted) == 1, outcomes
    assert all(isinstance(o, ConflictRefused) for o in outcomes if o not in accepted), outcomes
    assert [o.id for o in await _live(line)] == [accepted[0].operation.id]
