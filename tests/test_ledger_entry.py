"""Ledger entries: the exact bytes a leaf hashes, the fast track digest against the general
RFC 8785 encoder (who may read an entry is the access policy's: tests/test_access.py)."""

from __future__ import annotations

import doctest
import hashlib
import json

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from deconfliction.engine import ledger_entry
from deconfliction.engine.ledger_entry import (
    TRACK_FIELDS,
    canonical,
    entry_bytes,
    track_digest,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
# the ranges where Python's repr and ECMAScript's Number::toString differ in form
tricky = st.one_of(finite, st.floats(1e-7, 1e-4), st.floats(1e15, 1e21),
                   st.integers(-2**60, 2**60).map(float), st.sampled_from([0.0, -0.0, 1e16, 1e21,
                                                                          5e-324, 2.0**53]))
ids = st.one_of(st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True), st.text(max_size=8))


@given(st.lists(st.fixed_dictionaries({name: (ids if name == "aircraft_id" else tricky)
                                       for name in TRACK_FIELDS}), max_size=5))
def test_track_digest_is_the_rfc8785_digest(reports) -> None:
    ordered = sorted(reports, key=lambda r: r["aircraft_id"])
    try:
        expected = hashlib.sha256(rfc8785.dumps(ordered)).hexdigest()
    except rfc8785.CanonicalizationError:  # lone surrogates: the general encoder refuses
        return
    assert track_digest(reports) == expected


json_values = st.recursive(
    st.none() | st.booleans() | tricky | st.integers(-2**53 + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20)


@given(json_values)
def test_canonical_is_rfc8785(value) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:  # lone surrogates: made explicit instead
        assert canonical(value) == rfc8785.dumps(json.loads(canonical(value)))
        return
    assert canonical(value) == expected


def test_track_digest_of_awkward_ids_and_numbers_is_the_rfc8785_digest() -> None:
    base = dict.fromkeys(TRACK_FIELDS, 1.5)
    for ids, value in ((["a\nb", "c"], 7600.0), (["x", "y\nz"], -0.0), (["p"], 1e-7),
                       (["q", "r"], 2**53 * 1.0), (["é"], 0.1), (["s"], 3)):
        reports = [base | {"aircraft_id": i, "altitude_m": value} for i in ids]
        expected = hashlib.sha256(rfc8785.dumps(sorted(
            reports, key=lambda r: r["aircraft_id"]))).hexdigest()
        assert track_digest(reports) == expected, (ids, value)


def test_track_digest_ignores_the_order_of_the_batch() -> None:
    a = dict.fromkeys(TRACK_FIELDS, 1.0) | {"aircraft_id": "a"}
    b = dict.fromkeys(TRACK_FIELDS, 2.0) | {"aircraft_id": "b"}
    assert track_digest([a, b]) == track_digest([b, a]) != track_digest([a])


def test_entry_is_canonical_json_of_its_five_members() -> None:
    data = entry_bytes("message.sent", 1_800_000_000.25, ["blue", "red"],
                       {"subject": "é\n", "n": 3.0}, "ab" * 16)
    assert data == (b'{"body":{"n":3,"subject":"\xc3\xa9\\n"},"kind":"message.sent",'
                    b'"parties":["blue","red"],"salt":"' + b"ab" * 16
                    + b'","time":"2027-01-15T08:00:00.250Z"}')
    assert rfc8785.dumps(json.loads(data)) == data  # parsing and re-canonicalising is lossless


def test_what_json_cannot_carry_is_made_explicit_not_refused() -> None:
    assert canonical({"x": float("nan"), "y": (1, 2**60), "z": "\udc80"}) == (
        b'{"x":"nan","y":[1,"1152921504606846976"],"z":"?"}')
    assert canonical({"a": 1.5}) == b'{"a":1.5}'


def test_doctests() -> None:
    result = doctest.testmod(ledger_entry)
    assert result.attempted > 0 and result.failed == 0
