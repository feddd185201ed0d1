"""The ledger's records: leaves (one per accepted write), drafts of leaves not yet appended,
who may read an entry, the tree's node ids, signed tree heads and the line's signing key.

Value types only: the API, the service and the store share them. Hashing, proofs and signing
are the engine's (``engine.merkle``, ``engine.tree_head``).

Signed tree heads
-----------------
A head's signature covers the RFC 8785 canonical JSON of exactly four members, nothing else::

    {"format":"deconfliction-tree-head/v1","root_hash":"<64 lowercase hex>",
     "timestamp_ms":<int>,"tree_size":<int>}

(one line, no spaces, members in that order: RFC 8785 sorts them). ``format`` separates these
signatures from any other the same key makes and versions the layout; the hash algorithm is
fixed by it (SHA-256, RFC 9162), never chosen by a field. ``timestamp_ms`` is milliseconds since
the Unix epoch (UTC); both integers lie in 0..2**53 - 1, the range I-JSON carries exactly. The
key id is not signed: it only names the key to verify with.

`SignedTreeHead.to_dict` gives ``{"tree_size": int, "root_hash": hex, "timestamp_ms": int,
"signature": base64, "key_id": hex}``: digests (root hash, key id) as lowercase hex, the way
the ledger shows hashes everywhere; the 64-byte signature in standard base64 with padding
(RFC 4648 §4). `SignedTreeHead.from_dict` accepts exactly that and nothing looser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

PUBLIC = "all"
"""In an entry's ``parties``: every party may read it (constraints, line status, link tests)."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """Leaf ``index`` of the ledger: its entry (canonical JSON bytes) and their leaf hash.

    ``kind``, ``time`` and ``parties`` repeat what the entry says, for queries and need-to-know.
    """

    index: int
    time: float
    kind: str
    parties: tuple[str, ...]
    entry: bytes
    leaf_hash: bytes

    def content(self) -> dict[str, Any]:
        """The entry as JSON data (re-canonicalising it gives ``entry`` back)."""
        data: dict[str, Any] = json.loads(self.entry)
        return data


@dataclass(frozen=True, slots=True)
class LeafDraft:
    """A leaf before it is appended: its entry's bytes and their leaf hash, made by the service
    (``service.evidence``). The store gives it the next index and stores it as it is."""

    time: float
    kind: str
    parties: tuple[str, ...]  # who may read the entry in full (`PUBLIC`: every party)
    entry: bytes
    leaf_hash: bytes

    def at(self, index: int) -> Leaf:
        """This draft appended as leaf ``index``."""
        return Leaf(index, self.time, self.kind, self.parties, self.entry, self.leaf_hash)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The line's Ed25519 key as stored: its id and its PEM PKCS #8 private key."""

    key_id: str
    private_key_pem: bytes
    created_at: float


# --------------------------------------------------------------------------------------------
# the tree

HASH_SIZE = 32
"""Bytes in every digest of the tree (SHA-256, RFC 9162 §2.1)."""

NodeId = tuple[int, int]
"""``(level, index)`` of a complete aligned subtree: leaves ``[index * 2**level, ...)``."""

_LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: domain separation of leaves ...
_NODE_PREFIX = b"\x01"  # ... and interior nodes, against second-preimage attacks.


def leaf_hash(entry: bytes) -> bytes:
    """Hash one leaf entry: SHA-256(0x00 || entry) (RFC 9162 §2.1.1).

    Examples
    --------
    >>> leaf_hash(b"").hex()
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'
    """
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).

    Examples
    --------
    >>> node_hash(leaf_hash(b""), leaf_hash(b"\\x00")).hex()
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------------------------
# signed tree heads (see the module docstring)

FORMAT = "deconfliction-tree-head/v1"
"""Domain-separation and version label inside every signed tree head."""

SIGNATURE_SIZE = 64  # Ed25519 signatures are 64 bytes (RFC 8032 §5.1.6)
_MAX_INT = 2**53 - 1  # largest integer I-JSON (RFC 7493 §2.2) and RFC 8785 carry exactly
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("tree_size", "root_hash", "timestamp_ms", "signature", "key_id")


def _check_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
        raise ValueError(f"{name} must be an integer in 0..2**53 - 1, got {value!r}")
    return value


def _check_bytes(value: object, size: int, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {value!r}")
    return value


def tree_head_bytes(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    """The exact bytes a tree head's signature covers (see the module docstring).

    Examples
    --------
    >>> message = tree_head_bytes(7, bytes(32), 1_480_000_000_000)
    >>> message.startswith(b'{"format":"deconfliction-tree-head/v1","root_hash":"' + b"0" * 64)
    True
    >>> message.endswith(b'","timestamp_ms":1480000000000,"tree_size":7}')
    True
    """
    _check_int(tree_size, "tree_size")
    _check_bytes(root_hash, HASH_SIZE, "root_hash")
    _check_int(timestamp_ms, "timestamp_ms")
    return rfc8785.dumps(
        {
            "format": FORMAT,
            "root_hash": root_hash.hex(),
            "timestamp_ms": timestamp_ms,
            "tree_size": tree_size,
        }
    )


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """The root of the ledger at a size and time, signed by the key named by ``key_id``.

    Construction checks only the shape of the fields (raising `ValueError`); whether the
    signature holds is ``engine.tree_head.verify_tree_head``'s business.
    """

    tree_size: int
    root_hash: bytes
    timestamp_ms: int  # milliseconds since the Unix epoch, UTC
    signature: bytes
    key_id: str  # lowercase hex SHA-256 of the raw Ed25519 public key

    def __post_init__(self) -> None:
        _check_int(self.tree_size, "tree_size")
        _check_bytes(self.root_hash, HASH_SIZE, "root_hash")
        _check_int(self.timestamp_ms, "timestamp_ms")
        _check_bytes(self.signature, SIGNATURE_SIZE, "signature")
        if not isinstance(self.key_id, str) or not _HEX_DIGEST.fullmatch(self.key_id):
            raise ValueError(f"key_id must be 64 lowercase hex digits, got {self.key_id!r}")

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: `tree_head_bytes` of this head."""
        return tree_head_bytes(self.tree_size, self.root_hash, self.timestamp_ms)

    def to_dict(self) -> dict[str, int | str]:
        """A JSON-able dict: digests in lowercase hex, the signature in base64."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedTreeHead:
        """Parse `to_dict`'s form strictly; raise `ValueError` on any other shape.

        Parsing says nothing about the signature: call ``engine.tree_head.verify_tree_head``
        next.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a signed tree head is a JSON object, got {type(data).__name__}")
        if set(data) != set(_FIELDS):
            missing = sorted(set(_FIELDS) - set(data))
            extra = sorted(map(str, set(data) - set(_FIELDS)))
            raise ValueError(f"signed tree head fields: missing {missing}, unexpected {extra}")
        root_hex = data["root_hash"]
        if not isinstance(root_hex, str) or not _HEX_DIGEST.fullmatch(root_hex):
            raise ValueError(f"root_hash must be 64 lowercase hex digits, got {root_hex!r}")
        signature_b64 = data["signature"]
        if not isinstance(signature_b64, str):
            raise ValueError(f"signature must be a base64 string, got {signature_b64!r}")
        try:
            signature = base64.b64decode(signature_b64.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise ValueError(f"signature is not base64: {signature_b64!r}") from exc
        if base64.b64encode(signature).decode("ascii") != signature_b64:
            raise ValueError(f"signature is not canonical base64: {signature_b64!r}")
        return cls(
            tree_size=data["tree_size"],
            root_hash=bytes.fromhex(root_hex),
            timestamp_ms=data["timestamp_ms"],
            signature=signature,
            key_id=data["key_id"],
        )
