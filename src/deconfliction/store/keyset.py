"""Keyset pagination: the rows strictly after a key in a list's order (``service.paging``).

A page starts after the previous page's last key instead of at an offset, so each page is
one index range however deep the reader is, and rows written meanwhile never shift it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_

__all__ = ["after_key"]


def after_key(
    query: Select[Any], order: Sequence[tuple[ColumnElement[Any], bool]],
    key: Sequence[Any] | None, limit: int | None,
) -> Select[Any]:
    """``query`` ordered by ``order`` (column, descending?), from just after ``key`` (None:
    from the start), at most ``limit`` rows (None: all)."""
    query = query.order_by(*(column.desc() if desc else column.asc() for column, desc in order))
    if key is not None:
        after = []
        for i, (column, desc) in enumerate(order):
            ties = [c == v for (c, _d), v in zip(order[:i], key[:i], strict=True)]
            after.append(and_(*ties, column < key[i] if desc else column > key[i]))
        query = query.where(or_(*after))
    return query if limit is None else query.limit(limit)
