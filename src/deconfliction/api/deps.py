"""Injected dependencies as ``Annotated`` aliases: the line and the calling party."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from deconfliction.api.observe import note_party
from deconfliction.model.party import Party
from deconfliction.service.line import Line
from deconfliction.service.parties import authenticate


async def get_line(request: Request) -> Line:
    """The line this app serves (async: a plain function would be run on a thread)."""
    line: Line = request.app.state.line
    return line


LineDep = Annotated[Line, Depends(get_line)]


async def party_for(line: Line, authorization: str | None) -> Party:
    """The party whose bearer token is in this ``Authorization`` header (`Unauthenticated`
    without a valid one); it is seen on the line now."""
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    party = await authenticate(line, token)
    line.live.presence.seen(party.name, line.clock())
    note_party(party.name)  # for the request's access log line
    return party


async def current_party(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Party:
    """The party whose bearer token came with the request (401 without a valid one)."""
    # not ``LineDep``: one dependency less per request
    return await party_for(request.app.state.line, authorization)


CurrentParty = Annotated[Party, Depends(current_party)]
