"""Injected dependencies as ``Annotated`` aliases: the line and the calling party."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from deconfliction.model.party import Party
from deconfliction.service.line import Line
from deconfliction.service.parties import authenticate


def get_line(request: Request) -> Line:
    line: Line = request.app.state.line
    return line


LineDep = Annotated[Line, Depends(get_line)]


async def current_party(
    line: LineDep, authorization: Annotated[str | None, Header()] = None
) -> Party:
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    party = await authenticate(line, token)
    line.live.presence.seen(party.name, line.clock())
    return party


CurrentParty = Annotated[Party, Depends(current_party)]
