"""Ledger entries: what one leaf of the ledger records, as the exact bytes its hash covers.

An entry is the RFC 8785 canonical JSON of one object::

    {"body": {...}, "kind": "operation.declared", "parties": ["blue"],
     "salt": "<32 hex digits>", "time": "2026-11-28T06:00:00.250Z"}

``kind`` names the change, ``time`` is when it was made (RFC 3339 UTC), ``body`` is the change as
the line accepted it and ``parties`` names who may read the entry in full: those parties, every
party when it holds `PUBLIC`, and observers always (the access policy, ``service.access``,
applies it; an alert's entries are one per reader view). Everyone else sees only the leaf
hash. The
random ``salt`` keeps that hash from being guessed: an entry with little in it (a status change
at a known second) could otherwise be confirmed by hashing candidates.

Entries are made on the write path, so `canonical` takes a fast road to RFC 8785's bytes where
it can (orjson with sorted keys, once numbers are in the form ECMAScript prints them)
and the ``rfc8785`` package's everywhere else; the tests hold the two to the same bytes.

Examples
--------
>>> data = entry_bytes("party.status", 0.0, ["red"], {"status": "talks_suspended"}, "00" * 16)
>>> data.decode()[:60]
'{"body":{"status":"talks_suspended"},"kind":"party.status","'
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
import rfc8785

from deconfliction.engine.merkle import canonical_entry
from deconfliction.model.ledger import PUBLIC  # the reader marker is a value of the model
from deconfliction.model.time import rfc3339

__all__ = [
    "PUBLIC",
    "SALT_BYTES",
    "TRACK_FIELDS",
    "canonical",
    "entry_bytes",
    "track_digest",
    "track_rows_digest",
]

SALT_BYTES = 16  # 128 random bits: an entry's hash cannot be found by guessing its content

TRACK_FIELDS = ("aircraft_id", "altitude_m", "ground_speed_mps", "lat", "lon", "time",
                "track_deg", "vertical_rate_mps")
"""A track report's members in a digest (``time`` in UTC seconds)."""

_EXACT_INT = 2**53  # I-JSON's exact integers; below this a double prints as its integer digits
_POSITIONAL = (1e-4, 1e16)  # |x| where Python's repr is positional, as ECMAScript's is too


class _Slow(Exception):
    """A value the fast road does not take: the general encoder decides."""


def _ecmascript(value: Any) -> Any:
    """``value`` ready for ``orjson`` to write RFC 8785's bytes, or `_Slow`.

    Integral doubles become ints (ECMAScript prints ``3``, Python ``3.0``); other doubles are
    left to the encoder only where it writes them positionally, which is where it and
    ECMAScript print the same shortest digits. Keys outside the Basic Multilingual Plane would
    sort differently (orjson sorts by UTF-8 bytes, RFC 8785 by UTF-16 code units: the same
    order inside that plane only), so they too take the general road. The plain JSON types
    are told apart by exact type first (this runs for every entry on the write path); their
    subclasses take the general checks at the end.
    """
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or (not k.isascii() and max(map(ord, k)) > 0xFFFF):
                raise _Slow
            out[k] = v if type(v) in _AS_IS else _ecmascript(v)  # most values are strings
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else _ecmascript(v) for v in value]
    if kind is float or kind is int:
        return _number(value)
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, Mapping):
        return _ecmascript(dict(value))
    if isinstance(value, list | tuple):
        return _ecmascript(list(value))
    raise _Slow


def _number(value: float) -> float | int:
    """A number as orjson must be given it to print what ECMAScript prints, or `_Slow`."""
    if isinstance(value, int):
        if -_EXACT_INT < value < _EXACT_INT:
            return int(value)
        raise _Slow
    if value.is_integer():
        if -_EXACT_INT < value < _EXACT_INT:
            return int(value)
        raise _Slow
    if _POSITIONAL[0] <= abs(value) < _POSITIONAL[1]:
        return float(value)
    raise _Slow


_AS_IS = frozenset({str, bool, type(None)})  # written by orjson exactly as RFC 8785 does


def _sanitised(value: Any) -> Any:
    """``value`` with what JSON cannot carry exactly made explicit: non-finite numbers and
    integers beyond ±(2**53 - 1) as strings, lone surrogates as ``?``, tuples as lists."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < _EXACT_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(_sanitised(k)): _sanitised(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_sanitised(v) for v in value]
    return str(value)


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes of ``obj``; what JSON cannot carry exactly is first made explicit (a
    write is never refused because its record has, say, an infinite number in it).

    Examples
    --------
    >>> canonical({"b": [1.0, 0.5, 1e-7], "a": "é"}) == rfc8785.dumps({"b": [1.0, 0.5, 1e-7],
    ...                                                                "a": "é"})
    True
    >>> canonical({"b": float("inf"), "a": "\\ud800"})
    b'{"a":"?","b":"inf"}'
    """
    try:
        return orjson.dumps(_ecmascript(obj), option=orjson.OPT_SORT_KEYS)
    except (_Slow, orjson.JSONEncodeError):  # a lone surrogate, say
        pass
    try:
        return canonical_entry(obj)
    except (rfc8785.CanonicalizationError, TypeError):
        return canonical_entry(_sanitised(obj))


def entry_bytes(
    kind: str, time: float, parties: Sequence[str], body: Mapping[str, Any], salt: str
) -> bytes:
    """The canonical bytes of one entry (see the module docstring)."""
    return canonical({"kind": kind, "time": rfc3339(time), "parties": list(parties),
                      "body": body, "salt": salt})


def track_digest(reports: Iterable[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the RFC 8785 canonical JSON array of track reports, sorted by aircraft.

    Each report is an object of `TRACK_FIELDS`. A party can recompute the digest of a batch it
    sent from its own reports.

    Examples
    --------
    >>> r = {"aircraft_id": "blue-1", "time": 1.5, "lat": 36.2, "lon": 37.3, "altitude_m": 7600.0,
    ...      "ground_speed_mps": 230.0, "track_deg": 270.0, "vertical_rate_mps": 1e-7}
    >>> track_digest([r]) == hashlib.sha256(rfc8785.dumps([r])).hexdigest()
    True
    """
    return track_rows_digest([tuple(r[name] for name in TRACK_FIELDS) for r in reports])


_PLAIN_IDS = re.compile(r"[A-Za-z0-9._:-]*(?:\n[A-Za-z0-9._:-]*)*")
"""Aircraft ids, one per line, that RFC 8785 writes as they are between quotes."""

_TRACK_OBJECT = ('{"aircraft_id":"%s","altitude_m":%s,"ground_speed_mps":%s,"lat":%s,"lon":%s,'
                 '"time":%s,"track_deg":%s,"vertical_rate_mps":%s}')  # TRACK_FIELDS, sorted
_NUMBER_BYTES = b"0123456789.,-[]"  # all that orjson writes for a list of positional doubles


def track_rows_digest(rows: Sequence[Sequence[Any]]) -> str:
    """`track_digest` of reports given as tuples in `TRACK_FIELDS` order.

    A batch may hold thousands of reports, so the common case is written without a walk in
    Python: see `_positional_tracks`. Anything else takes the general encoder.
    """
    ordered = sorted(rows, key=itemgetter(0))
    text = _positional_tracks(ordered)
    if text is None:
        return hashlib.sha256(canonical(
            [dict(zip(TRACK_FIELDS, row, strict=True)) for row in ordered])).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


def _positional_tracks(ordered: Sequence[Sequence[Any]]) -> str | None:
    """RFC 8785 text of these reports when every number is a double that orjson writes
    positionally (there it writes the shortest round-trip digits, as ECMAScript does) and every
    id is plain; else None.

    orjson writes the numbers of the whole batch in one C call; an integral double comes out
    as ``7600.0`` where ECMAScript writes ``7600`` (and ``0`` for ``-0``), which is put right
    on the text. A number written in exponent form, an integer, a bool or a non-finite value
    (orjson's ``null``) fails the byte checks and sends the batch to the general road.
    """
    if not ordered:
        return "[]"
    if set(map(len, ordered)) != {8}:
        return None
    ids = [row[0] for row in ordered]
    if not all(type(i) is str for i in ids):
        return None
    joined = "\n".join(ids)  # one line per id: a newline inside one shows as an extra line
    if joined.count("\n") != len(ids) - 1 or not _PLAIN_IDS.fullmatch(joined):
        return None
    numbers = list(chain.from_iterable(row[1:] for row in ordered))
    try:
        written = orjson.dumps(numbers)
    except orjson.JSONEncodeError:
        return None
    # one "." per number: each was a double written positionally, none an int
    if written.count(b".") != len(numbers) or written.translate(None, _NUMBER_BYTES):
        return None
    text = written.decode()[1:-1].replace(".0,", ",")
    tokens = (text[:-2] if text.endswith(".0") else text).split(",")
    if "-0" in tokens:
        tokens = ["0" if t == "-0" else t for t in tokens]
    fields: list[str] = [""] * (8 * len(ordered))
    fields[0::8] = ids
    for k in range(7):
        fields[k + 1::8] = tokens[k::7]
    return "[" + ",".join([_TRACK_OBJECT] * len(ordered)) % tuple(fields) + "]"
