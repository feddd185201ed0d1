"""JSON on the hot paths (event data, stream frames, lean-lane answers), written by orjson.

It accepts what ``json.dumps`` accepts there — numpy numbers, non-string keys — and writes
compact UTF-8. One difference is deliberate: a non-finite number becomes ``null`` (the standard
library would write ``NaN``, which no JSON parser has to accept).
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    if isinstance(value, float):  # float subclasses orjson leaves to us
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON (UTF-8 bytes)."""
    return orjson.dumps(value, default=_fallback, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text."""
    return orjson.dumps(value, default=_fallback, option=_OPTIONS).decode()
