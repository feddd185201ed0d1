"""The ledger's append-only Merkle tree: RFC 9162 hashing, proofs and their verifiers.

Every entry the line accepts becomes one leaf. Hashing follows RFC 9162 §2.1 with SHA-256 fixed
(no proof chooses its own algorithm)::

    leaf = SHA-256(0x00 || entry)        entry = RFC 8785 canonical JSON of the record
    node = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256("")

Storage is left to the caller through two hooks (`NodeReader.get`, `NodeStore.put_many`). The
tree stores only *complete aligned subtrees*: node ``(level, index)`` is the hash of the leaves
``[index * 2**level, (index + 1) * 2**level)``, so level 0 holds the leaf hashes and a node, once
written, never changes. Every subtree that RFC 9162's recursive definitions of MTH, PATH and
PROOF need is either such a node or the right-to-left fold of O(log n) of them, so `root`,
`inclusion_proof` and `consistency_proof` read O(log n) nodes and `append_nodes` hashes amortised
O(1) nodes per leaf. The ``*_nodes`` planning functions name the nodes a computation will read,
so a database backend can fetch them in one query.

Leaf indices are 0-based. Proof generation is server-side and raises `ValueError` on bad
arguments; the verifiers take untrusted input and raise `VerificationError` for anything wrong,
returning ``None`` on success.

Examples
--------
>>> store = MemoryNodeStore()
>>> leaves = [leaf_hash(canonical_entry({"seq": i})) for i in range(5)]
>>> store.put_many(append_nodes(0, leaves, store))
>>> head = root(5, store)
>>> verify_inclusion(leaves[3], 3, 5, inclusion_proof(3, 5, store), head)
>>> verify_consistency(2, 5, root(2, store), head, consistency_proof(2, 5, store))
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import rfc8785

# value types and the two hashes of RFC 9162 §2.1.1, shared with the store
from deconfliction.model.ledger import HASH_SIZE, NodeId, leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "NodeId",
    "NodeReader",
    "NodeStore",
    "ProofNodes",
    "VerificationError",
    "append_nodes",
    "canonical_entry",
    "consistency_proof",
    "consistency_proof_nodes",
    "inclusion_proof",
    "inclusion_proof_nodes",
    "leaf_hash",
    "node_hash",
    "root",
    "root_nodes",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of the empty tree: the hash of the empty string (RFC 9162 §2.1.1)."""



class VerificationError(Exception):
    """A proof, root or signed tree head failed verification; the message says what failed."""


class NodeReader(Protocol):
    """Read hook: the hash of a complete aligned subtree already stored."""

    def get(self, level: int, index: int) -> bytes:
        """Return node ``(level, index)``; raise `KeyError` if it was never stored."""
        ...


class NodeStore(NodeReader, Protocol):
    """Read and write hooks of a node store (a dict, a database table)."""

    def put_many(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` triples, as returned by `append_nodes`."""
        ...


class MemoryNodeStore:
    """A `NodeStore` in a dict, for tests and small uses.

    Nodes are write-once: storing a different hash at an existing position raises `ValueError`,
    since an append-only tree never changes a complete subtree.

    Examples
    --------
    >>> store = MemoryNodeStore()
    >>> store.put_many([(0, 0, leaf_hash(b""))])
    >>> store.get(0, 0).hex()[:16], len(store)
    ('6e340b9cffb37a98', 1)
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise KeyError(f"no Merkle node at level {level}, index {index}") from None

    def put_many(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        for level, index, digest in nodes:
            old = self._nodes.setdefault((level, index), bytes(digest))
            if old != digest:
                raise ValueError(f"Merkle node at level {level}, index {index} would change")

    def __len__(self) -> int:
        return len(self._nodes)


# --------------------------------------------------------------------------------------------
# Hashing


def canonical_entry(obj: Any) -> bytes:
    """Serialise a JSON-able record as RFC 8785 canonical JSON, the bytes a leaf hashes.

    Raises `rfc8785.CanonicalizationError` (a `ValueError`) for values JSON cannot carry
    exactly: NaN and infinities, integers beyond ±(2**53 - 1), non-string keys.

    Examples
    --------
    >>> canonical_entry({"b": 1, "a": [True, None, 1.5]})
    b'{"a":[true,null,1.5],"b":1}'
    """
    return rfc8785.dumps(obj)


# --------------------------------------------------------------------------------------------
# Building


def append_nodes(
    size_before: int, leaf_hashes: Sequence[bytes], store: NodeReader
) -> list[tuple[int, int, bytes]]:
    """Compute the complete nodes that appending ``leaf_hashes`` to a tree creates.

    Returns ``(level, index, hash)`` triples (the leaves themselves at level 0, then every
    subtree the batch completes) for the caller to `NodeStore.put_many`, typically in the same
    transaction as the entries. Hashes amortised O(1) nodes per leaf; reads at most one stored
    node per level, those on the right border of the tree of ``size_before`` leaves.

    Examples
    --------
    >>> store = MemoryNodeStore()
    >>> store.put_many(append_nodes(0, [leaf_hash(b"")], store))
    >>> [(level, index) for level, index, _ in append_nodes(1, [leaf_hash(b"\\x00")], store)]
    [(0, 1), (1, 0)]
    """
    _check_size(size_before, "size_before")
    created: list[tuple[int, int, bytes]] = []
    pending: dict[int, tuple[int, bytes]] = {}  # level -> newest left child made at that level
    for offset, digest in enumerate(leaf_hashes):
        if not isinstance(digest, bytes | bytearray) or len(digest) != HASH_SIZE:
            raise ValueError(f"leaf_hashes[{offset}] must be {HASH_SIZE} bytes, got {digest!r}")
        level, index, current = 0, size_before + offset, bytes(digest)
        created.append((level, index, current))
        while index & 1:  # a right child completes its parent
            cached = pending.get(level)
            if cached is not None and cached[0] == index - 1:
                left = cached[1]
            else:  # the sibling predates this batch: on the old tree's right border
                left = store.get(level, index - 1)
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            created.append((level, index, current))
        pending[level] = (index, current)
    return created


# --------------------------------------------------------------------------------------------
# Planning: which complete nodes a root or proof is made of

ProofNodes = list[tuple[NodeId, ...]]
"""One group of nodes per output hash; a group's hash is the right-to-left fold of its nodes."""


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2), RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_nodes(start: int, size: int) -> tuple[NodeId, ...]:
    """The complete nodes, left to right, whose fold is MTH of leaves [start, start + size).

    ``start`` is aligned as in RFC 9162's recursion (a multiple of the largest power of two not
    above ``size``), so the decomposition follows the set bits of ``size`` from the top.
    """
    nodes = []
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return tuple(nodes)


def root_nodes(size: int) -> tuple[NodeId, ...]:
    """The nodes whose right-to-left fold is the root of a tree of ``size`` leaves.

    Examples
    --------
    >>> root_nodes(7)
    ((2, 0), (1, 2), (0, 6))
    """
    _check_size(size, "size")
    return _range_nodes(0, size)


def inclusion_proof_nodes(index: int, size: int) -> ProofNodes:
    """Plan RFC 9162's PATH(index, D[size]) (§2.1.3.1), deepest sibling first.

    Examples
    --------
    >>> inclusion_proof_nodes(2, 5)
    [((0, 3),), ((1, 0),), ((0, 4),)]
    """
    _check_size(size, "size")
    if not _is_count(index) or not index < size:
        raise ValueError(f"leaf index {index!r} is outside a tree of {size} leaves")
    siblings: ProofNodes = []  # top-down, reversed at the end
    start, n = 0, size  # the subtree D[start:start + n] that holds the leaf
    while n > 1:
        k = _split(n)
        if index < start + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            siblings.append(_range_nodes(start + k, n - k))
            n = k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            siblings.append(_range_nodes(start, k))
            start, n = start + k, n - k
    siblings.reverse()
    return siblings


def consistency_proof_nodes(first: int, second: int) -> ProofNodes:
    """Plan RFC 9162's PROOF(first, D[second]) (§2.1.4.1), deepest node first.

    Examples
    --------
    >>> consistency_proof_nodes(3, 4)
    [((0, 2),), ((0, 3),), ((1, 0),)]
    """
    _check_size(first, "first")
    _check_size(second, "second")
    if not 0 < first <= second:
        raise ValueError(f"consistency needs 0 < first <= second, got {first} and {second}")
    nodes: ProofNodes = []  # top-down, reversed at the end
    start, m, n, whole = 0, first, second, True  # SUBPROOF(m, D[start:start + n], whole)
    while m != n:
        k = _split(n)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            nodes.append(_range_nodes(start + k, n - k))
            n = k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            nodes.append(_range_nodes(start, k))
            start, m, n, whole = start + k, m - k, n - k, False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        nodes.append(_range_nodes(start, m))
    nodes.reverse()
    return nodes


def _fold(group: tuple[NodeId, ...], store: NodeReader) -> bytes:
    digest = store.get(*group[-1])
    for level, index in reversed(group[:-1]):
        digest = node_hash(store.get(level, index), digest)
    return digest


# --------------------------------------------------------------------------------------------
# Reading roots and proofs


def root(size: int, store: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves (RFC 9162 §2.1.1), reading popcount(size) nodes.

    Examples
    --------
    >>> root(0, MemoryNodeStore()) == EMPTY_ROOT
    True
    """
    nodes = root_nodes(size)
    return _fold(nodes, store) if nodes else EMPTY_ROOT


def inclusion_proof(index: int, size: int, store: NodeReader) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1).

    Reads O(log size) nodes. Raises `ValueError` unless ``0 <= index < size``.
    """
    return [_fold(group, store) for group in inclusion_proof_nodes(index, size)]


def consistency_proof(first: int, second: int, store: NodeReader) -> list[bytes]:
    """The consistency proof between tree sizes ``first`` and ``second`` (RFC 9162 §2.1.4.1).

    Reads O(log second) nodes. Raises `ValueError` unless ``0 < first <= second``; the proof
    for ``first == second`` is empty.
    """
    return [_fold(group, store) for group in consistency_proof_nodes(first, second)]


# --------------------------------------------------------------------------------------------
# Verifying


def _inclusion_proof_length(index: int, size: int) -> int:
    # Levels below the point where the leaf's path leaves the tree's right border, plus the
    # left siblings met on that border.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(first: int, second: int) -> int:
    # As inclusion of leaf first - 1 in second, less the levels (trailing zeros of first) that
    # lie inside the complete subtree ending at first, plus its hash unless it is the old root.
    if first == second:
        return 0
    inner = ((first - 1) ^ (second - 1)).bit_length()
    border = ((first - 1) >> inner).bit_count()
    shift = (first & -first).bit_length() - 1
    seed = 0 if first == 1 << shift else 1
    return seed + inner - shift + border


def _check_digest(value: object, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise VerificationError(f"{name} is {type(value).__name__}, not bytes")
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")
    return bytes(value)


def _check_proof(proof: Sequence[bytes], expected: int, what: str) -> list[bytes]:
    if isinstance(proof, bytes | bytearray | str):
        raise VerificationError(f"{what} proof is a single {type(proof).__name__}, not a list")
    if len(proof) != expected:
        raise VerificationError(f"{what} proof has {len(proof)} hashes, expected {expected}")
    return [_check_digest(p, f"{what} proof[{i}]") for i, p in enumerate(proof)]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Follows RFC 9162 §2.1.3.2 after checking the arguments and that the proof has exactly the
    length that ``(index, size)`` implies. Returns ``None``; raises `VerificationError` saying
    what failed.

    Examples
    --------
    >>> a, b = leaf_hash(b"a"), leaf_hash(b"b")
    >>> verify_inclusion(b, 1, 2, [a], node_hash(a, b))
    >>> verify_inclusion(b, 0, 2, [a], node_hash(a, b))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    deconfliction.engine.merkle.VerificationError: inclusion proof does not lead to the root: ...
    """
    if not _is_count(index) or not _is_count(size):
        raise VerificationError(f"index {index!r} and size {size!r} must be integers >= 0")
    if not index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of {size} leaves")
    leaf = _check_digest(leaf_hash, "leaf hash")
    expected_root = _check_digest(root, "root")
    path = _check_proof(proof, _inclusion_proof_length(index, size), "inclusion")

    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the path to the root")
    if not hmac.compare_digest(r, expected_root):
        raise VerificationError(
            f"inclusion proof does not lead to the root: leaf {index} of {size} gives "
            f"{r.hex()}, expected {expected_root.hex()}"
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second`` leaves with ``second_root`` extends ``first``'s.

    Follows RFC 9162 §2.1.4.2 after checking ``0 < first <= second`` and that the proof has
    exactly the length that ``(first, second)`` implies; for ``first == second`` the proof is
    empty and the roots must be equal. Returns ``None``; raises `VerificationError` saying what
    failed.

    Examples
    --------
    >>> a, b = leaf_hash(b"a"), leaf_hash(b"b")
    >>> verify_consistency(1, 2, a, node_hash(a, b), [b])
    >>> verify_consistency(1, 2, a, node_hash(b, a), [b])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    deconfliction.engine.merkle.VerificationError: consistency proof does not lead to the second ...
    """
    if not _is_count(first) or not _is_count(second):
        raise VerificationError(f"sizes first={first!r}, second={second!r} must be integers >= 0")
    if not 0 < first <= second:
        raise VerificationError(f"consistency needs 0 < first <= second, got {first}, {second}")
    old = _check_digest(first_root, "first root")
    new = _check_digest(second_root, "second root")
    path = _check_proof(proof, _consistency_proof_length(first, second), "consistency")

    if first == second:
        if not hmac.compare_digest(old, new):
            raise VerificationError(f"trees of equal size {first} have different roots")
        return
    if first & (first - 1) == 0:  # first is a power of two: its root is a node of the path
        path.insert(0, old)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the path to the root")
    if not hmac.compare_digest(fr, old):
        raise VerificationError(
            f"consistency proof does not lead to the first root: size {first} gives {fr.hex()}, "
            f"expected {old.hex()}"
        )
    if not hmac.compare_digest(sr, new):
        raise VerificationError(
            f"consistency proof does not lead to the second root: size {second} gives "
            f"{sr.hex()}, expected {new.hex()}"
        )


def _check_size(value: object, name: str) -> None:
    if not _is_count(value):
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
