"""Lists that page: a stable order per list, keyset cursors, bounded pages.

Every list is read in one fixed order of immutable keys (operations and constraints by
creation time then id, alerts newest first then id, ...), so a page starts strictly after the
last item of the one before: nothing is missed or repeated while others write, however far a
reader pages. The cursor is opaque to clients — base64url of the list's name and that last
key — and a cursor that does not parse, or that belongs to another list, is a 400 naming
``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from deconfliction.service.errors import FieldError, ValidationFailed

T = TypeVar("T")
Key = tuple[Any, ...]

PAGE_MAX = 1_000
"""Most items one page of any list holds (and the default page of every list but alerts and
messages, whose default stays 200): a page of the largest records stays well under a second
to render on a loaded 2-core machine."""
PAGE_DEFAULT_RECENT = 200
"""Default page of the newest-first lists (alerts, messages)."""
MAX_CURSOR_CHARS = 512  # far above any key we write (two floats and an id)


class Page(list[T]):
    """One page of a list: its items, and ``next``, the cursor of the page after it (None:
    this is the last). A list, so callers that want the items only need nothing else."""

    next: str | None

    def __init__(self, items: Iterable[T] = (), next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next = next_cursor


@dataclass(frozen=True, slots=True)
class Order(Generic[T]):
    """How one list is ordered: its name (in its cursors), the key of an item, and the types
    of the key's parts (a cursor's key must match them)."""

    name: str
    key: Callable[[T], Key]
    shape: tuple[type, ...]

    def after(self, cursor: str | None) -> Key | None:
        """The key a page starts after (None: the first page); a bad cursor is a 400."""
        if cursor is None:
            return None
        decoded = _decode(cursor)
        if (not isinstance(decoded, list) or len(decoded) != len(self.shape) + 1
                or decoded[0] != self.name
                or not all(_is(v, t) for v, t in zip(decoded[1:], self.shape, strict=True))):
            raise _bad(f"not a cursor of this list ({self.name}): pass back the `next` of "
                       "its previous page")
        return tuple(decoded[1:])

    def page(self, rows: list[T], limit: int) -> Page[T]:
        """The page of ``rows`` (read with ``limit + 1``, so one more says a next exists)."""
        if len(rows) <= limit:
            return Page(rows)
        items = rows[:limit]
        return Page(items, self.cursor(items[-1]))

    def cursor(self, item: T) -> str:
        """The cursor of the page that starts just after ``item``."""
        return _encode([self.name, *self.key(item)])


KEY_NUMBER_BOUND = 2**53
"""Largest magnitude of a number in a cursor's key: every key we write (times in seconds,
ledger indices, sequence numbers) is far below it, and both databases' 64-bit integers and
doubles hold it exactly, so a forged cursor's number can never overflow a query."""


def _is(value: Any, kind: type) -> bool:
    if kind is float or kind is int:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and (kind is float or isinstance(value, int))
                and abs(value) < KEY_NUMBER_BOUND)  # False for NaN and infinities too
    return isinstance(value, kind)


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("cursor", message)])


def _encode(value: list[Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(cursor: str) -> Any:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _bad(f"a cursor is at most {MAX_CURSOR_CHARS} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw, parse_constant=_no_constant)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise _bad("not a cursor this line wrote: pass back the `next` of the previous "
                   "page") from error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a key")
