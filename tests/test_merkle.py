"""Tests of the ledger's Merkle tree: RFC 6962/9162 reference vectors, properties, tampering.

Reference vectors (typed in from transparency-dev/merkle, Apache-2.0): the eight leaf inputs,
the complete-subtree hashes and the roots of sizes 0..8 from ``testonly/constants.go``; the
inclusion and consistency proofs from ``testonly/reference_test.go`` (0-based indices) and
``proof/verify_test.go`` (there 1-based; converted). They are the vectors of RFC 6962's
reference implementation, and RFC 9162 keeps RFC 6962's hashing.
"""

from __future__ import annotations

import doctest
import hashlib
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconfliction.engine import merkle
from deconfliction.engine.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    NodeStore,
    VerificationError,
    append_nodes,
    canonical_entry,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    root,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# ---------------------------------------------------------------------------------------------
# Reference vectors

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

# NODE_HASHES[level][index]: every complete subtree of the 8-leaf tree.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]

# ROOTS[size] for sizes 0..8.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# (index, size, proof), 0-based.
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 2, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")]),
    (1, 2, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# (first, second, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# ---------------------------------------------------------------------------------------------
# Backends: the tree is tested against each (as pymerkle tests its storage hooks)


class SqliteNodeStore:
    """A NodeStore over one SQLite table, as the storage layer will keep it."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE TABLE merkle_node (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
            "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID"
        )

    def get(self, level: int, index: int) -> bytes:
        row = self.db.execute(
            "SELECT hash FROM merkle_node WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        if row is None:
            raise KeyError((level, index))
        return bytes(row[0])

    def put_many(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        self.db.executemany("INSERT INTO merkle_node VALUES (?, ?, ?)", nodes)


class CountingReader:
    """Wraps a store and counts its reads."""

    def __init__(self, inner: NodeStore) -> None:
        self.inner = inner
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.get(level, index)


BACKENDS: dict[str, Callable[[], NodeStore]] = {
    "memory": MemoryNodeStore,
    "sqlite": SqliteNodeStore,
}


@pytest.fixture(params=sorted(BACKENDS))
def make_store(request: pytest.FixtureRequest) -> Callable[[], NodeStore]:
    return BACKENDS[request.param]


def build(leaf_hashes: Sequence[bytes], store: NodeStore, batches: Sequence[int] = ()) -> None:
    """Append ``leaf_hashes`` to an empty store, in batches of the given sizes then the rest."""
    size = 0
    for n in [*batches, len(leaf_hashes)]:
        batch = leaf_hashes[size : size + n]
        store.put_many(append_nodes(size, batch, store))
        size += len(batch)


# ---------------------------------------------------------------------------------------------
# A naive reference, straight from RFC 9162 §2.1's recursive definitions


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_root(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_root(d[:k]), ref_root(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_root(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_root(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [ref_root(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_root(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_root(d[:k])]


# Distinct leaves, so that no proof holds for another index by coincidence.
POOL = [leaf_hash(canonical_entry({"seq": i})) for i in range(1024)]


# ---------------------------------------------------------------------------------------------
# Tamper probes: every one must raise VerificationError


def flip(digest: bytes, byte: int = 0, bit: int = 3) -> bytes:
    out = bytearray(digest)
    out[byte] ^= 1 << bit
    return bytes(out)


def inclusion_probes(
    leaf: bytes, index: int, size: int, proof: list[bytes], head: bytes
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    yield "index - 1", (leaf, index - 1, size, proof, head)
    yield "index + 1", (leaf, index + 1, size, proof, head)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, head)
    yield "size * 2", (leaf, index, size * 2, proof, head)
    yield "size // 2", (leaf, index, size // 2, proof, head)
    yield "flipped leaf", (flip(leaf), index, size, proof, head)
    yield "short leaf", (leaf[:-1], index, size, proof, head)
    yield "empty root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "random root", (leaf, index, size, proof, SOME_HASH)
    yield "flipped root", (leaf, index, size, proof, flip(head, 31, 0))
    yield "trailing garbage", (leaf, index, size, [*proof, b""], head)
    yield "trailing root", (leaf, index, size, [*proof, head], head)
    yield "preceding garbage", (leaf, index, size, [b"", *proof], head)
    yield "preceding root", (leaf, index, size, [head, *proof], head)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i])
        yield f"flipped proof[{i}]", (leaf, index, size, bad, head)
    if proof:
        yield "removed last", (leaf, index, size, proof[:-1], head)
        yield "removed first", (leaf, index, size, proof[1:], head)
    if len(proof) > 1:
        yield "inserted", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], head)


def consistency_probes(
    first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    yield "first - 1", (first - 1, second, root1, root2, proof)
    yield "first + 1", (first + 1, second, root1, root2, proof)
    yield "first ^ 2", (first ^ 2, second, root1, root2, proof)
    yield "second * 2", (first, second * 2, root1, root2, proof)
    yield "second // 2", (first, second // 2, root1, root2, proof)
    yield "swapped sizes", (second, first, root1, root2, proof)
    yield "flipped root1", (first, second, flip(root1), root2, proof)
    yield "flipped root2", (first, second, root1, flip(root2, 31, 7), proof)
    yield "short root1", (first, second, root1[:-1], root2, proof)
    yield "swapped roots", (first, second, root2, root1, proof)
    yield "empty proof", (first, second, root1, root2, [])
    yield "trailing garbage", (first, second, root1, root2, [*proof, b""])
    yield "trailing root1", (first, second, root1, root2, [*proof, root1])
    yield "trailing root2", (first, second, root1, root2, [*proof, root2])
    yield "preceding garbage", (first, second, root1, root2, [b"", *proof])
    yield "preceding root1", (first, second, root1, root2, [root1, *proof])
    yield "preceding root2", (first, second, root1, root2, [root2, *proof])
    yield "preceding proof[0]", (first, second, root1, root2, [proof[0], *proof])
    yield "truncated", (first, second, root1, root2, proof[:-1])
    yield "dropped first", (first, second, root1, root2, proof[1:])
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], bit=4)
        yield f"flipped proof[{i}]", (first, second, root1, root2, bad)


def assert_all_rejected(
    verify: Callable[..., None], probes: Iterable[tuple[str, tuple[Any, ...]]]
) -> None:
    accepted = []
    for desc, args in probes:
        try:
            verify(*args)
        except VerificationError:
            continue
        accepted.append(desc)
    assert not accepted, f"wrongly verified: {', '.join(accepted)}"


# ---------------------------------------------------------------------------------------------
# Reference vectors


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == ROOTS[0]
    assert root(0, MemoryNodeStore()) == EMPTY_ROOT


def test_leaf_hashes_match_reference() -> None:
    assert [leaf_hash(x) for x in LEAVES] == NODE_HASHES[0]


def test_stored_nodes_match_reference(make_store: Callable[[], NodeStore]) -> None:
    store = make_store()
    build([leaf_hash(x) for x in LEAVES], store)
    for level, row in enumerate(NODE_HASHES):
        for index, expected in enumerate(row):
            assert store.get(level, index) == expected, (level, index)


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_roots_match_reference(make_store: Callable[[], NodeStore], one_at_a_time: bool) -> None:
    store = make_store()
    build([leaf_hash(x) for x in LEAVES], store, batches=[1] * 8 if one_at_a_time else [])
    for size, expected in enumerate(ROOTS):
        assert root(size, store) == expected, size


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_inclusion_vectors(
    make_store: Callable[[], NodeStore], index: int, size: int, expected: list[bytes]
) -> None:
    store = make_store()
    build([leaf_hash(x) for x in LEAVES[:size]], store)
    assert inclusion_proof(index, size, store) == expected
    leaf = leaf_hash(LEAVES[index])
    verify_inclusion(leaf, index, size, expected, ROOTS[size])  # returns None, raises nothing
    assert_all_rejected(
        verify_inclusion, inclusion_probes(leaf, index, size, expected, ROOTS[size])
    )


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY_VECTORS)
def test_consistency_vectors(
    make_store: Callable[[], NodeStore], first: int, second: int, expected: list[bytes]
) -> None:
    store = make_store()
    build([leaf_hash(x) for x in LEAVES[:second]], store)
    assert consistency_proof(first, second, store) == expected
    verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)
    if expected:
        probes = consistency_probes(first, second, ROOTS[first], ROOTS[second], expected)
        assert_all_rejected(verify_consistency, probes)


def test_single_leaf_tree() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    for bad_leaf, bad_root in [(leaf, b""), (b"", leaf), (b"", b""), (SOME_HASH, leaf)]:
        with pytest.raises(VerificationError):
            verify_inclusion(bad_leaf, 0, 1, [], bad_root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 4), (True, 4)])
def test_inclusion_rejects_impossible_positions(index: int, size: int) -> None:
    with pytest.raises(VerificationError, match="index|outside"):
        verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_equal_sizes_need_equal_roots_and_an_empty_proof() -> None:
    verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    with pytest.raises(VerificationError, match="different roots"):
        verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    with pytest.raises(VerificationError, match="0 hashes|expected 0"):
        verify_consistency(3, 3, ROOTS[3], ROOTS[3], [EMPTY_ROOT])


@pytest.mark.parametrize(("first", "second"), [(0, 0), (0, 1), (1, 0), (2, 1), (-1, 3)])
def test_consistency_rejects_impossible_sizes(first: int, second: int) -> None:
    with pytest.raises(VerificationError, match="first"):
        verify_consistency(first, second, EMPTY_ROOT, EMPTY_ROOT, [])


def test_verifier_errors_say_what_failed() -> None:
    leaf, proof = leaf_hash(LEAVES[5]), [flip(p) for p in INCLUSION_VECTORS[-1][2]]
    with pytest.raises(VerificationError, match="does not lead to the root"):
        verify_inclusion(leaf, 5, 8, proof, ROOTS[8])
    with pytest.raises(VerificationError, match="has 2 hashes, expected 3"):
        verify_inclusion(leaf, 5, 8, proof[:2], ROOTS[8])
    with pytest.raises(VerificationError, match=r"proof\[1\] is 31 bytes"):
        verify_inclusion(leaf, 5, 8, [proof[0], proof[1][:31], proof[2]], ROOTS[8])
    with pytest.raises(VerificationError, match="not a list"):
        verify_inclusion(leaf, 5, 8, b"".join(proof), ROOTS[8])  # type: ignore[arg-type]
    with pytest.raises(VerificationError, match="first root"):
        verify_consistency(6, 8, flip(ROOTS[6]), ROOTS[8], CONSISTENCY_VECTORS[2][2])
    with pytest.raises(VerificationError, match="second root"):
        verify_consistency(6, 8, ROOTS[6], flip(ROOTS[8]), CONSISTENCY_VECTORS[2][2])


# ---------------------------------------------------------------------------------------------
# Exhaustive over small trees, against the naive reference


def test_every_proof_of_small_trees_matches_reference() -> None:
    leaves = POOL[:40]
    store = MemoryNodeStore()
    build(leaves, store)
    for size in range(1, len(leaves) + 1):
        d = leaves[:size]
        head = ref_root(d)
        assert root(size, store) == head
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == ref_path(index, d), (index, size)
            verify_inclusion(d[index], index, size, proof, head)
        for first in range(1, size + 1):
            proof = consistency_proof(first, size, store)
            assert proof == ref_subproof(first, d, True), (first, size)
            verify_consistency(first, size, ref_root(d[:first]), head, proof)


# ---------------------------------------------------------------------------------------------
# Properties


@st.composite
def tree_shapes(draw: st.DrawFn, max_size: int = 300) -> tuple[int, list[int]]:
    """A tree size and the batch sizes it was appended in."""
    size = draw(st.integers(1, max_size))
    batches = draw(st.lists(st.integers(1, 64), max_size=8))
    return size, batches


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(shape=tree_shapes())
def test_batched_appends_build_the_reference_tree(shape: tuple[int, list[int]]) -> None:
    size, batches = shape
    leaves = POOL[:size]
    batched, single = MemoryNodeStore(), MemoryNodeStore()
    build(leaves, batched, batches)
    build(leaves, single)
    assert batched._nodes == single._nodes  # same nodes whatever the batching
    assert len(single) == 2 * size - size.bit_count()  # exactly the complete subtrees
    assert root(size, batched) == ref_root(leaves)


@PROPERTY
@given(shape=tree_shapes(), data=st.data())
def test_every_inclusion_proof_verifies(shape: tuple[int, list[int]], data: st.DataObject) -> None:
    size, batches = shape
    leaves = POOL[:size]
    store = MemoryNodeStore()
    build(leaves, store, batches)
    head = root(size, store)
    bound = math.ceil(math.log2(size)) if size > 1 else 0
    for index in range(size):
        proof = inclusion_proof(index, size, store)
        assert len(proof) <= bound
        verify_inclusion(leaves[index], index, size, proof, head)
    index = data.draw(st.integers(0, size - 1), label="index")
    assert inclusion_proof(index, size, store) == ref_path(index, leaves)


@PROPERTY
@given(shape=tree_shapes(), data=st.data())
def test_every_consistency_proof_verifies(
    shape: tuple[int, list[int]], data: st.DataObject
) -> None:
    size, batches = shape
    leaves = POOL[:size]
    store = MemoryNodeStore()
    build(leaves, store, batches)
    head = root(size, store)
    bound = math.ceil(math.log2(size)) + 1 if size > 1 else 0
    for first in range(1, size + 1):
        proof = consistency_proof(first, size, store)
        assert len(proof) <= bound
        verify_consistency(first, size, root(first, store), head, proof)
    first = data.draw(st.integers(1, size), label="first")
    assert consistency_proof(first, size, store) == ref_subproof(first, leaves, True)


@PROPERTY
@given(shape=tree_shapes(max_size=200), data=st.data())
def test_tampered_inclusion_is_rejected(shape: tuple[int, list[int]], data: st.DataObject) -> None:
    size, batches = shape
    leaves = POOL[:size]
    store = MemoryNodeStore()
    build(leaves, store, batches)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, head = inclusion_proof(index, size, store), root(size, store)
    if size > 1:
        wrong = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="wrong")
        with pytest.raises(VerificationError):
            verify_inclusion(leaves[index], wrong, size, proof, head)
        with pytest.raises(VerificationError):
            verify_inclusion(leaves[wrong], index, size, proof, head)
    byte, bit = data.draw(st.integers(0, 31), label="byte"), data.draw(st.integers(0, 7))
    assert_all_rejected(verify_inclusion, inclusion_probes(leaves[index], index, size, proof, head))
    with pytest.raises(VerificationError):
        verify_inclusion(flip(leaves[index], byte, bit), index, size, proof, head)
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], index, size, proof, flip(head, byte, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        proof[at] = flip(proof[at], byte, bit)
        with pytest.raises(VerificationError):
            verify_inclusion(leaves[index], index, size, proof, head)


@PROPERTY
@given(shape=tree_shapes(max_size=200), data=st.data())
def test_tampered_consistency_is_rejected(
    shape: tuple[int, list[int]], data: st.DataObject
) -> None:
    size, batches = shape
    leaves = POOL[:size]
    store = MemoryNodeStore()
    build(leaves, store, batches)
    first = data.draw(st.integers(1, size), label="first")
    proof = consistency_proof(first, size, store)
    root1, root2 = root(first, store), root(size, store)
    if proof:
        assert_all_rejected(
            verify_consistency, consistency_probes(first, size, root1, root2, proof)
        )
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        byte, bit = data.draw(st.integers(0, 31), label="byte"), data.draw(st.integers(0, 7))
        bad = list(proof)
        bad[at] = flip(bad[at], byte, bit)
        with pytest.raises(VerificationError):
            verify_consistency(first, size, root1, root2, bad)


@PROPERTY
@given(data=st.data())
def test_consistency_between_forked_trees_is_rejected(data: st.DataObject) -> None:
    """A log that showed one history to a party, then extends another, cannot prove it."""
    second = data.draw(st.integers(2, 200), label="second")
    first = data.draw(st.integers(1, second - 1), label="first")
    fork_at = data.draw(st.integers(0, first - 1), label="fork_at")  # first leaf that differs
    honest = POOL[:second]
    forked = POOL[:fork_at] + [leaf_hash(b"rewritten %d" % i) for i in range(fork_at, first)]
    honest_store, forked_store = MemoryNodeStore(), MemoryNodeStore()
    build(honest, honest_store)
    build(forked, forked_store)
    seen_root = root(first, forked_store)  # the head a party was shown at size `first`
    assert seen_root != root(first, honest_store)
    proof = consistency_proof(first, second, honest_store)
    with pytest.raises(VerificationError, match="does not lead to the (first|second) root"):
        verify_consistency(first, second, seen_root, root(second, honest_store), proof)
    # Nor does a proof made from the forked history bridge the two heads.
    forked_store.put_many(append_nodes(first, honest[first:], forked_store))
    proof = consistency_proof(first, second, forked_store)
    with pytest.raises(VerificationError):
        verify_consistency(first, second, seen_root, root(second, honest_store), proof)


# ---------------------------------------------------------------------------------------------
# Cost: O(log n) reads


@pytest.fixture(scope="module")
def big_tree() -> tuple[int, MemoryNodeStore, list[int]]:
    """100,000 leaves appended in batches of 1 to 1000; returns the store reads per batch."""
    size, store, reads = 100_000, MemoryNodeStore(), []
    done, n = 0, 1
    while done < size:
        batch = [leaf_hash(b"%d" % i) for i in range(done, min(size, done + n))]
        counter = CountingReader(store)
        store.put_many(append_nodes(done, batch, counter))
        reads.append(counter.reads)
        done, n = done + len(batch), n % 1000 + 7
    return size, store, reads


def test_append_reads_at_most_one_node_per_level(
    big_tree: tuple[int, MemoryNodeStore, list[int]],
) -> None:
    size, _, reads = big_tree
    assert max(reads) <= math.log2(size)


def test_proofs_read_o_log_n_nodes(big_tree: tuple[int, MemoryNodeStore, list[int]]) -> None:
    size, store, _ = big_tree
    limit = 4 * math.log2(size)  # about 66
    counter = CountingReader(store)
    head = root(size, counter)
    assert counter.reads == size.bit_count()
    worst = 0
    for index in [0, 1, 2**16 - 1, 2**16, 99_998, 99_999, *range(3, size, 997)]:
        counter.reads = 0
        proof = inclusion_proof(index, size, counter)
        assert counter.reads == sum(map(len, inclusion_proof_nodes(index, size)))
        worst = max(worst, counter.reads)
        verify_inclusion(leaf_hash(b"%d" % index), index, size, proof, head)
    for first in [1, 2, 3, 2**16 - 1, 2**16, 2**16 + 1, 99_999, 100_000, *range(5, size, 1009)]:
        counter.reads = 0
        proof = consistency_proof(first, size, counter)
        worst = max(worst, counter.reads)
        verify_consistency(first, size, root(first, store), head, proof)
    assert worst < limit, worst


def test_plans_name_o_log_n_nodes() -> None:
    for size in [1, 2, 3, 1000, 2**20 - 1, 2**20, 2**20 + 1, 10**9, 2**53 - 1]:
        limit = 2 * size.bit_length() + 1
        assert len(root_nodes(size)) == size.bit_count()
        for index in {0, size // 3, size // 2, size - 2 if size > 1 else 0, size - 1}:
            assert sum(map(len, inclusion_proof_nodes(index, size))) <= limit
        for first in {1, size // 3 or 1, size // 2 or 1, size - 1 or 1, size}:
            assert sum(map(len, consistency_proof_nodes(first, size))) <= limit


# ---------------------------------------------------------------------------------------------
# Arguments, storage and entries


def test_generation_rejects_bad_arguments() -> None:
    store = MemoryNodeStore()
    build(POOL[:5], store)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(5, 5, store)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(-1, 5, store)
    with pytest.raises(ValueError, match="first"):
        consistency_proof(0, 5, store)
    with pytest.raises(ValueError, match="first"):
        consistency_proof(5, 4, store)
    with pytest.raises(ValueError, match="size"):
        root(-1, store)
    with pytest.raises(ValueError, match="32"):
        append_nodes(5, [b"short"], store)


def test_missing_nodes_surface_as_key_errors() -> None:
    store = MemoryNodeStore()
    build(POOL[:4], store)
    with pytest.raises(KeyError):
        root(5, store)  # the tree has only 4 leaves
    with pytest.raises(KeyError):
        append_nodes(5, [POOL[5]], store)  # leaf 4 was never appended


def test_memory_store_nodes_are_write_once() -> None:
    store = MemoryNodeStore()
    build(POOL[:2], store)
    store.put_many([(0, 0, POOL[0])])  # the same hash again is harmless
    with pytest.raises(ValueError, match="would change"):
        store.put_many([(0, 0, POOL[1])])


def test_canonical_entry_is_rfc8785() -> None:
    entry = canonical_entry({"z": [1, 2.5, None], "a": "é", "m": {"y": True, "b": 1e21}})
    assert entry == '{"a":"é","m":{"b":1e+21,"y":true},"z":[1,2.5,null]}'.encode()
    assert leaf_hash(entry) == hashlib.sha256(b"\x00" + entry).digest()
    with pytest.raises(ValueError):
        canonical_entry({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_entry({"x": 2**53})


def test_doctests() -> None:
    result = doctest.testmod(merkle, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
