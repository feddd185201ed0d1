"""The query parameters every paged list takes: ``limit`` and ``cursor`` (`service.paging`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from deconfliction.service.paging import MAX_CURSOR_CHARS, PAGE_DEFAULT_RECENT, PAGE_MAX

__all__ = ["Cursor", "Limit", "RecentLimit"]

Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description=(
    f"Items in this page: at most {PAGE_MAX} (the default)."))]
RecentLimit = Annotated[int, Query(ge=1, le=PAGE_MAX, description=(
    f"Items in this page: at most {PAGE_MAX}, {PAGE_DEFAULT_RECENT} by default."))]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description=(
    "Where this page starts: the `next` of the previous page (opaque; leave out for the "
    "first page). A list's `next` is null on its last page."))]
