"""The request guard's nesting measure (`problems.too_deep`) against the parsed document's
depth, on JSON whose strings hold brackets, quotes and runs of backslashes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.api.problems import too_deep

TRICKY = st.text(alphabet='[]{}"\\\\ a', max_size=8)
DOCUMENTS = st.recursive(
    st.none() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(document=DOCUMENTS, limit=st.integers(0, 8), indent=st.sampled_from([None, 1]))
@settings(max_examples=400, derandomize=True, database=None, deadline=None)
def test_depth_is_the_documents(document: Any, limit: int, indent: int | None) -> None:
    raw = json.dumps(document, indent=indent, ensure_ascii=False).encode()
    assert too_deep(raw, limit) == (depth(document) > limit)


def test_deep_and_wide_bodies() -> None:
    assert too_deep(b"[" * 100_000 + b"]" * 100_000, 32)
    assert not too_deep(b"[" * 32 + b"]" * 32, 32)
    assert not too_deep(json.dumps({"r": ["[[[[" * 10, '\\"[[['] * 1000}).encode(), 3)
    assert too_deep(json.dumps([[[['\\\\']]]]).encode(), 3)
