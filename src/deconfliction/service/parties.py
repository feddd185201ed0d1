"""Parties: added and revoked by whoever runs the line (CLI); tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from deconfliction.model.party import Party, Role
from deconfliction.service import evidence, paging
from deconfliction.service.errors import (
    AlreadyExists,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from deconfliction.service.line import Line
from deconfliction.service.live import REVOKED
from deconfliction.store.base import Repository

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVED_NAMES = frozenset({"all", "unidentified"})  # message broadcast; unclaimed aircraft


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: tokens are 256-bit random, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


async def add_party(line: Line, name: str, role: Role, now: float) -> tuple[Party, str]:
    """Register a party; returns it with its bearer token, which is not stored and not shown
    again."""
    if not NAME_PATTERN.match(name):
        raise ValidationFailed([FieldError(
            "name", "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")])
    if name.lower() in RESERVED_NAMES:
        raise ValidationFailed([FieldError("name", f"{name!r} is reserved")])
    token = "dl_" + secrets.token_urlsafe(32)
    party = Party(name, role, now)

    async def work(repo: Repository) -> None:
        if await repo.party(name) is not None:
            raise AlreadyExists(f"a party named {name!r} exists already")
        await repo.add_party(party, token_hash(token))
        await repo.append_leaves([evidence.party_added(party)])

    await line.store.transact(work)
    return party, token


PARTIES: paging.Order[Party] = paging.Order("parties", lambda p: (p.name,), (str,))


async def list_parties(
    line: Line, *, cursor: str | None = None, limit: int | None = None
) -> paging.Page[Party]:
    """Every party by name, a page at a time (``limit`` None: all of them, for the CLI). The
    parties are few (an administrator adds each), so a page is cut from the whole list."""
    after = PARTIES.after(cursor)
    # ordered here, not by the database's collation, so the cursor compares as the order does
    found = sorted(await line.store.interact(lambda repo: repo.parties()), key=lambda p: p.name)
    if after is not None:
        found = [p for p in found if p.name > after[0]]
    return PARTIES.page(found, len(found) if limit is None else limit)


async def revoke_party(line: Line, name: str, now: float) -> None:
    """Revoke a party's token: every later call with it gets 401, and its open streams and
    webhook in this process stop at once (other processes' within a poll interval). Its
    records stay."""

    async def work(repo: Repository) -> None:
        if await repo.party(name) is None:
            raise NotFound(f"no party named {name!r}")
        if await repo.revoke_party(name, now):
            await repo.append_leaves([evidence.party_revoked(name, now)])

    await line.store.transact(work)
    line.live.notifier.cut(name, REVOKED)


async def authenticate(line: Line, token: str | None) -> Party:
    """The active party holding ``token``, or :class:`Unauthenticated`."""
    if not token:
        raise Unauthenticated("missing bearer token")
    party = await line.store.lookup(lambda repo: repo.party_by_token(token_hash(token)))
    if party is None or not party.active:
        raise Unauthenticated("unknown or revoked token")
    return party


async def tell_every_party(
    repo: Repository, kind: str, now: float, data: dict[str, Any]
) -> None:
    """Append the same event to every active party's stream, in this unit of work."""
    for party in await repo.parties():
        if party.active:
            await repo.append_event(party.name, kind, now, data)
