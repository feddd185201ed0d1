"""Lists that page (issue 17): every list pages through 5,000 items on both backends with
nothing missing or repeated, in its stable order, and a party pages only through what the
access policy lets it read. The items are stored in bulk through the store in one unit of
work (not 5,000 requests); the pages are read through the service as the API reads them.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from deconfliction.model.alert import (
    AircraftSide,
    AircraftState,
    Alert,
    AlertKind,
    AlertState,
    Nonconformance,
)
from deconfliction.model.constraint import Constraint, ConstraintKind, ConstraintState
from deconfliction.model.message import Message, Recipient, Urgency
from deconfliction.model.operation import Operation, OperationState
from deconfliction.model.party import Party, Role
from deconfliction.model.track import Aircraft, StateReport, Track
from deconfliction.service import alerts, constraints, evidence, hotline, ledger, operations
from deconfliction.service import parties as parties_service
from deconfliction.service import tracks as tracks_service
from deconfliction.service.errors import ValidationFailed
from deconfliction.service.line import Line
from deconfliction.service.paging import Page
from deconfliction.store.base import Repository
from support.service_level import T0, add_parties

pytestmark = pytest.mark.anyio

N = 5_000
PAGE = 700  # pages end mid-tie and the last one is short
OPERATORS = ("blue", "red", "green")

Fetch = Callable[[str | None, int], Awaitable[Any]]


async def _page_through(fetch: Fetch, limit: int = PAGE) -> tuple[list[Any], int]:
    """Every item of a list, following ``next`` until it is None; and how many pages."""
    items: list[Any] = []
    cursor: str | None = None
    for pages in range(1, N):
        page = await fetch(cursor, limit)
        items.extend(page)
        if page.next is None:
            return items, pages
        cursor = page.next
    raise AssertionError("the list never ended")


def _once_each(keys: list[Any], expected: set[Any]) -> None:
    assert len(keys) == len(set(keys)), "an item was repeated"
    assert set(keys) == expected, f"{len(expected - set(keys))} missing, " \
                                  f"{len(set(keys) - expected)} unexpected"


async def _bulk(line: Line, work: Callable[[Repository], Awaitable[None]]) -> None:
    await line.store.transact(work)


def _shuffled_ids(prefix: str) -> list[str]:
    ids = [f"{prefix}-{i:05d}" for i in range(N)]
    random.Random(17).shuffle(ids)  # id order is not insertion order
    return ids


async def test_operations_and_their_ledger_entries(line: Line) -> None:
    parties = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                                watch=Role.OBSERVER)
    ids = _shuffled_ids("op")

    async def store(repo: Repository) -> None:
        drafts = []
        for i, op_id in enumerate(ids):
            state = OperationState.ENDED if i % 50 == 0 else OperationState.ACCEPTED
            op = Operation(op_id, OPERATORS[i % 2], (), i % 5, state, f"ovn-{i}", 1, False,
                           (), "", T0 + i // 7, T0 + i // 7)  # ties in created_at
            await repo.insert_operation(op, [])
            drafts.append(evidence.operation_changed(op, first=True))
        await repo.append_leaves(drafts)

    await _bulk(line, store)
    live = {op_id for i, op_id in enumerate(ids) if i % 50 != 0}
    for reader in ("blue", "watch"):  # every party reads every live operation
        found, pages = await _page_through(lambda cursor, limit, r=reader: (
            operations.list_operations(line, parties[r], cursor=cursor, limit=limit)))
        _once_each([o.id for o, _full in found], live)
        assert [(o.created_at, o.id) for o, _ in found] == sorted(
            (o.created_at, o.id) for o, _ in found)
        assert all(full == (reader == "watch" or o.owner == reader) for o, full in found)
        assert pages == -(-len(live) // PAGE)

    size = len(await line.store.interact(lambda repo: repo.ledger_leaves(0, 10 * N)))
    for reader in ("blue", "red"):  # every index; in full only what the reader may read

        async def entries(cursor: str | None, limit: int, r: str = reader) -> Any:
            page = await ledger.entries(line, parties[r], 0, None, limit=limit, cursor=cursor)
            return Page(page.leaves, page.next)

        found, _pages = await _page_through(entries)
        _once_each([leaf.index for leaf, _full in found], set(range(size)))
        assert [leaf.index for leaf, _ in found] == list(range(size))
        assert sum(full for _, full in found) >= N // 2


async def test_constraints(line: Line) -> None:
    parties = await add_parties(line, mission=Role.AUTHORITY, blue=Role.OPERATOR)
    ids = _shuffled_ids("k")

    async def store(repo: Repository) -> None:
        for i, k_id in enumerate(ids):
            state = ConstraintState.WITHDRAWN if i % 9 == 0 else ConstraintState.ACTIVE
            await repo.insert_constraint(Constraint(
                k_id, "mission", ConstraintKind.NO_FLY, f"k{i}", (), None, (), state,
                f"ovn-{i}", 1, T0 + i // 3, T0 + i // 3), [])

    await _bulk(line, store)
    found, _pages = await _page_through(lambda cursor, limit: constraints.list_constraints(
        line, cursor=cursor, limit=limit))
    _once_each([k.id for k in found], set(ids))
    assert parties  # every party reads every constraint: the list does not ask who


async def test_messages_by_need_to_know(line: Line) -> None:
    parties = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                                green=Role.OPERATOR, watch=Role.OBSERVER)
    ids = _shuffled_ids("m")
    involved: dict[str, set[str]] = {p: set() for p in parties}

    async def store(repo: Repository) -> None:
        for i, m_id in enumerate(ids):
            sender, to = OPERATORS[i % 3], OPERATORS[(i + 1 + i // 3 % 2) % 3]
            await repo.insert_message(
                Message(m_id, sender, to, Urgency.ROUTINE, f"s{i}", "", (), T0 - i // 4),
                [Recipient(m_id, to, delivered_at=T0)])
            for p in (sender, to):
                involved[p].add(m_id)

    await _bulk(line, store)
    involved["watch"] = set(ids)
    for reader in ("blue", "watch"):
        found, _pages = await _page_through(lambda cursor, limit, r=reader: (
            hotline.list_messages(line, parties[r], limit=limit, now=T0, cursor=cursor)))
        _once_each([m.id for m, _recipients in found], involved[reader])
        keys = [(-m.time, m.id) for m, _ in found]
        assert keys == sorted(keys)  # newest first, then id


def _nonconformance(i: int, owner: str) -> Alert:
    side = AircraftSide(owner, f"ac-{i}", None, None,
                        AircraftState(T0, 36.0, 37.0, 1000.0, 50.0, 90.0, 0.0))
    return Alert(f"alert-{i:05d}", AlertKind.NONCONFORMANCE, ("nonconformance", f"ac-{i}"),
                 (owner,), AlertState.RAISED if i % 4 else AlertState.CLEARED,
                 T0 - i // 5, T0, None, Nonconformance(side, f"op-{i}", owner))


async def test_alerts_by_need_to_know(line: Line) -> None:
    parties = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                                watch=Role.OBSERVER)

    async def store(repo: Repository) -> None:
        for i in range(N):
            await repo.put_alert(_nonconformance(i, OPERATORS[i % 2]))

    await _bulk(line, store)
    for reader, expected in (("blue", {f"alert-{i:05d}" for i in range(0, N, 2)}),
                             ("watch", {f"alert-{i:05d}" for i in range(N)})):
        found, _pages = await _page_through(lambda cursor, limit, r=reader: (
            alerts.list_alerts(line, parties[r], active_only=False, limit=limit,
                               cursor=cursor)))
        _once_each([a.id for a, _view in found], expected)
    raised, _pages = await _page_through(lambda cursor, limit: alerts.list_alerts(
        line, parties["watch"], active_only=True, limit=limit, cursor=cursor))
    _once_each([a.id for a, _ in raised], {f"alert-{i:05d}" for i in range(N) if i % 4})


async def test_aircraft_and_tracks_by_need_to_know(line: Line) -> None:
    parties = await add_parties(line, blue=Role.OPERATOR, red=Role.OPERATOR,
                                watch=Role.OBSERVER)
    # ids are each party's own: half the ids are used by both parties (ties on the id)
    keys = [(OPERATORS[i % 2], f"ac-{i // 2:05d}") for i in range(N)]

    async def store(repo: Repository) -> None:
        for party, aircraft_id in keys:
            await repo.put_aircraft(Aircraft(aircraft_id, party))
        await repo.put_tracks([
            Track(party, StateReport(aircraft_id, T0, 36.0, 37.0, 1000.0, 50.0, 90.0, 0.0), T0)
            for party, aircraft_id in keys])

    await _bulk(line, store)
    for reader in ("blue", "watch"):
        expected = {k for k in keys if reader == "watch" or k[0] == reader}
        found, _pages = await _page_through(lambda cursor, limit, r=reader: (
            tracks_service.list_aircraft(line, parties[r], cursor=cursor, limit=limit)))
        _once_each([(a.party, a.id) for a in found], expected)
        found, _pages = await _page_through(lambda cursor, limit, r=reader: (
            tracks_service.list_tracks(line, parties[r], cursor=cursor, limit=limit)))
        _once_each([(t.party, t.state.aircraft_id) for t in found], expected)


async def test_a_bad_cursor_is_a_400_naming_it(line: Line) -> None:
    parties = await add_parties(line, blue=Role.OPERATOR)
    blue = parties["blue"]
    alien = base64.urlsafe_b64encode(b'["constraints",1.0,"x"]').decode().rstrip("=")
    for cursor in ("!!!", "bm90IGpzb24", "W10", alien, "x" * 600,
                   base64.urlsafe_b64encode(b'["operations","1","x"]').decode()):
        with pytest.raises(ValidationFailed) as refused:
            await operations.list_operations(line, blue, cursor=cursor, limit=10)
        assert [e.field for e in refused.value.errors] == ["cursor"], cursor


def _forged(*key: object) -> str:
    return base64.urlsafe_b64encode(f"[{','.join(map(str, key))}]".encode()).decode()


async def test_a_forged_number_in_a_cursor_is_a_400_not_an_overflow(line: Line) -> None:
    """A cursor is base64 JSON a client can forge: numbers past what a 64-bit column or a
    double holds (which SQLite and PostgreSQL refuse with an overflow) are refused first."""
    parties = await add_parties(line, blue=Role.OPERATOR)
    blue = parties["blue"]
    for number in ("99999999999999999999999", "9223372036854775807", "-9223372036854775809",
                   "1e400", "-1e400", "1" + "0" * 5000):
        with pytest.raises(ValidationFailed) as refused:
            await operations.list_operations(line, blue, cursor=_forged(
                '"operations"', number, '"x"'), limit=10)
        assert [e.field for e in refused.value.errors] == ["cursor"], number
        with pytest.raises(ValidationFailed) as refused:
            await ledger.entries(line, blue, 0, None, cursor=_forged('"ledger"', number), limit=10)
        assert [e.field for e in refused.value.errors] == ["cursor"], number
    # the largest keys a list really holds still page (nothing after them)
    assert list(await operations.list_operations(
        line, blue, cursor=_forged('"operations"', 2**52, '"x"'), limit=10)) == []


async def test_parties(line: Line) -> None:
    names = _shuffled_ids("party")

    async def store(repo: Repository) -> None:
        for i, name in enumerate(names):
            await repo.add_party(Party(name, Role.OPERATOR, T0), f"hash-{i}")

    await _bulk(line, store)
    found, _pages = await _page_through(lambda cursor, limit: parties_service.list_parties(
        line, cursor=cursor, limit=limit))
    _once_each([p.name for p in found], set(names))
    assert [p.name for p in found] == sorted(names)
    assert len(await parties_service.list_parties(line)) == N  # the CLI's: all of them
