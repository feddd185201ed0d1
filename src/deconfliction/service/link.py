"""The line itself: who is connected, each party's declared status, and link tests.

Connection state is this process's (a party is connected while it holds an event stream
here; last seen is its last authenticated request or stream activity). A party's status
(``talks_suspended`` or ``normal``) is recorded and shown to all, and changes nothing about
delivery. A link test goes to every party's stream; a party's round trip is measured when its
client answers ``POST /v1/line/test/{id}/ack`` — an answer from the client, not merely bytes
written to a socket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from deconfliction.model.link import LinkTest, PartyLink, PartyStatus
from deconfliction.model.party import Party, Role
from deconfliction.model.time import rfc3339
from deconfliction.service import evidence
from deconfliction.service.errors import NotFound, PermissionDenied
from deconfliction.service.evidence import Recorded
from deconfliction.service.line import Line
from deconfliction.service.parties import tell_every_party
from deconfliction.store.base import Repository


@dataclass(frozen=True, slots=True)
class LineEntry:
    """One party's end of the line, as every party sees it."""

    party: Party
    link: PartyLink
    connected: bool
    streams: int
    last_seen: float | None
    round_trip_s: float | None  # in the latest link test; None if it has not answered


@dataclass(frozen=True, slots=True)
class LineState:
    entries: list[LineEntry]
    latest_test: LinkTest | None


def _writer(party: Party) -> None:
    if party.role is Role.OBSERVER:
        raise PermissionDenied("observers read everything and write nothing")


async def line_state(line: Line) -> LineState:
    """Every active party's connection, status and latest round trip."""

    async def read(repo: Repository) -> tuple[list[Party], dict[str, PartyLink], LinkTest | None]:
        return await repo.parties(), await repo.party_links(), await repo.latest_link_test()

    parties, links, test = await line.store.interact(read)
    presence = line.live.presence
    entries = []
    for p in parties:
        if not p.active:
            continue
        acked = test.acks.get(p.name) if test else None
        entries.append(LineEntry(
            p, links.get(p.name) or PartyLink(p.name), presence.connected(p.name),
            presence.streams.get(p.name, 0), presence.last_seen.get(p.name),
            None if acked is None or test is None else acked - test.time))
    return LineState(entries, test)


async def set_status(
    line: Line, party: Party, status: PartyStatus, now: float
) -> Recorded[PartyLink]:
    """Record ``party``'s declared status and tell every party (the ledger records a change,
    not a status declared again at the same instant). At most ``settings_per_minute`` changes
    of one's own settings: each is told to every party."""
    _writer(party)
    line.quotas.take("settings_per_minute", party.name,
                     line.settings.limits.settings_per_minute, now=now)

    async def work(repo: Repository) -> Recorded[PartyLink]:
        before = (await repo.party_links()).get(party.name) or PartyLink(party.name)
        link = replace(before, status=status, status_at=now)
        await repo.put_party_link(link)
        receipt = None
        if (link.status, link.status_at) != (before.status, before.status_at):
            (receipt,) = await repo.append_leaves([evidence.party_status(link)])
        await tell_every_party(repo, "party.status", now, {
            "party": party.name, "status": status.value, "since": rfc3339(now)})
        return Recorded(link, receipt)

    return await line.store.transact(work)


async def send_link_test(line: Line, party: Party, now: float) -> Recorded[LinkTest]:
    """A ``line.test`` event to every active party (the sender too); at most
    ``link_tests_per_minute`` per party."""
    _writer(party)
    line.quotas.take("link_tests_per_minute", party.name,
                     line.settings.limits.link_tests_per_minute, now=now)
    test = LinkTest(str(uuid.uuid4()), party.name, now, {})

    async def work(repo: Repository) -> Recorded[LinkTest]:
        await repo.insert_link_test(test)
        (receipt,) = await repo.append_leaves([evidence.link_test_sent(test)])
        await tell_every_party(repo, "line.test", now, {
            "test_id": test.id, "from": party.name, "time": rfc3339(now)})
        return Recorded(test, receipt)

    return await line.store.transact(work)


async def ack_link_test(
    line: Line, party: Party, test_id: str, now: float
) -> Recorded[LinkTest]:
    """``party``'s client answered the test (any party may; the first answer counts and is
    recorded, so acknowledgements are bounded by the tests sent: a party's answer again stores
    nothing)."""

    async def work(repo: Repository) -> Recorded[LinkTest]:
        test = await repo.link_test(test_id)
        if test is None:
            raise NotFound(f"no link test {test_id!r}")
        if party.name in test.acks:
            return Recorded(test, None)
        await repo.add_link_ack(test_id, party.name, now)
        (receipt,) = await repo.append_leaves([evidence.link_test_acked(test_id, party.name,
                                                                        now)])
        await repo.append_event(test.sender, "line.test.ack", now, {
            "test_id": test_id, "party": party.name, "round_trip_s": now - test.time})
        return Recorded(replace(test, acks={**test.acks, party.name: now}), receipt)

    return await line.store.transact(work)


async def get_link_test(line: Line, test_id: str) -> LinkTest:
    test = await line.store.interact(lambda repo: repo.link_test(test_id))
    if test is None:
        raise NotFound(f"no link test {test_id!r}")
    return test
