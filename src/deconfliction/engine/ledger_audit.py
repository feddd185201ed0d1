"""Auditing an exported ledger: every leaf, the tree, the signature, and consistency with a head
saved earlier — each kind of tampering detected and named.

An export (``service/ledger_export.py``) is a header and every leaf of the signed tree, in order:
the exporting party's entries in full, every other leaf as its hash only. `audit` checks, in
stages, stopping at the first failure:

1. the header: its tree head parses, is signed by the key (``--key``, when given, must be the
   key the export names);
2. the leaves' order: indices 0..n-1 once each, in order — else *entry dropped*, *entry
   inserted* or *entries reordered*;
3. each full entry hashes (RFC 8785 bytes, RFC 9162 leaf hash) to its leaf hash — else *entry
   changed*;
4. the leaf hashes rebuild the signed root — else *leaf hash changed*;
5. a saved head (a head the party kept from before): signed by the key, and the first
   ``saved.tree_size`` leaves rebuild its root — else *fork* (two different trees for one
   size), or *rollback* when the export is shorter than what the party saw.

The tree is rebuilt with `engine.merkle.append_nodes` over a store that keeps only the right
border (one node per level), so a million leaves need O(log n) memory.
"""

from __future__ import annotations

import binascii
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from deconfliction.engine.merkle import (
    EMPTY_ROOT,
    VerificationError,
    append_nodes,
    canonical_entry,
    leaf_hash,
    root,
)
from deconfliction.engine.tree_head import (
    SignedTreeHead,
    key_id,
    public_key_from_pem,
    public_key_from_raw_b64,
    verify_tree_head,
)

__all__ = ["EXPORT_FORMAT", "Audited", "Tampered", "audit", "decode_key", "head_from_json"]

EXPORT_FORMAT = "deconfliction-ledger-export/v1"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_BATCH = 8192  # leaves hashed into the tree at a time


class Tampered(VerificationError):
    """The export, or the ledger it came from, is not what the line signed; ``what`` names how
    (``entry changed``, ``entry dropped``, ``fork`` ...) and the message says where."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what


@dataclass(frozen=True, slots=True)
class Audited:
    """What a successful audit established."""

    head: SignedTreeHead
    key_id: str
    leaves: int
    entries: int  # leaves readable in full in the export
    saved: SignedTreeHead | None  # the saved head the export was shown consistent with


class _Border:
    """A node store that keeps only the newest node of each level: all that appending to a
    tree and reading its root need (the nodes on its right border)."""

    def __init__(self) -> None:
        self._newest: dict[int, tuple[int, bytes]] = {}

    def get(self, level: int, index: int) -> bytes:
        held = self._newest.get(level)
        if held is None or held[0] != index:
            raise KeyError(f"node ({level}, {index}) is not on the border")
        return held[1]

    def put_many(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        for level, index, digest in nodes:
            self._newest[level] = (index, digest)


def head_from_json(data: Any, what: str) -> SignedTreeHead:
    """A signed tree head from JSON: the head itself (``GET /v1/ledger/head``, ``ledger head``),
    or anything holding one under ``tree_head`` (an export header, a receipt)."""
    if isinstance(data, Mapping) and isinstance(data.get("tree_head"), Mapping):
        data = data["tree_head"]
    if not isinstance(data, Mapping):
        raise Tampered("malformed", f"{what} is not a signed tree head")
    fields = ("tree_size", "root_hash", "timestamp_ms", "signature", "key_id")
    try:
        return SignedTreeHead.from_dict({name: data.get(name) for name in fields})
    except ValueError as error:
        raise Tampered("malformed", f"{what}: {error}") from None


def _key(header: Mapping[str, Any], trusted: Ed25519PublicKey | None) -> Ed25519PublicKey:
    named = header.get("key")
    if not isinstance(named, Mapping) or not isinstance(named.get("public_key"), str):
        raise Tampered("malformed", "the export's header names no public key")
    try:
        exported = public_key_from_raw_b64(named["public_key"])
    except (ValueError, binascii.Error) as error:
        raise Tampered("malformed", f"the export's public key: {error}") from None
    if trusted is not None and not hmac.compare_digest(key_id(exported), key_id(trusted)):
        raise Tampered("key mismatch", f"the export is signed by key {key_id(exported)}, "
                                       f"not by the key given ({key_id(trusted)})")
    return trusted or exported


def _signed(head: SignedTreeHead, key: Ed25519PublicKey, whose: str) -> None:
    try:
        verify_tree_head(head, key)
    except VerificationError as error:
        raise Tampered("signature invalid", f"{whose}: {error}") from None


class _Order:
    """Leaf by leaf: the indices must run 0..size-1, once each, in order. Names what is wrong
    as soon as it can: a leaf skipped over is *dropped* unless it turns up later (*reordered*);
    one seen twice or beyond the tree is *inserted*."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.expected = 0
        self.skipped: set[int] = set()
        self.last: int | None = None
        self.count = 0

    def see(self, index: Any) -> int:
        self.count += 1
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise Tampered("malformed", f"leaf line {self.count} has no valid index")
        if index >= self.size:
            raise Tampered("entry inserted", f"leaf {index} is beyond the signed tree of "
                                             f"{self.size} leaves")
        if index >= self.expected:
            self.skipped.update(range(self.expected, index))
            self.expected = index + 1
        elif index in self.skipped:
            raise Tampered("entries reordered", f"leaf {index} comes after leaf {self.last}")
        else:
            raise Tampered("entry inserted", f"leaf {index} appears more than once")
        self.last = index
        return index

    def end(self) -> None:
        if self.skipped or self.expected < self.size:
            missing = min(self.skipped) if self.skipped else self.expected
            raise Tampered("entry dropped", f"leaf {missing} is missing: the signed tree has "
                                            f"{self.size} leaves, the export {self.count}")


def _digest(leaf: Mapping[str, Any], index: int) -> bytes:
    text = leaf.get("leaf_hash")
    if not isinstance(text, str) or not _HEX_DIGEST.fullmatch(text):
        raise Tampered("malformed", f"leaf {index} has no valid leaf_hash (64 lowercase hex)")
    digest = bytes.fromhex(text)
    if "entry" in leaf:
        try:
            entry = canonical_entry(leaf["entry"])
        except (rfc8785.CanonicalizationError, TypeError):
            raise Tampered("entry changed", f"leaf {index}'s entry is not canonical JSON "
                                            "data any more") from None
        if not hmac.compare_digest(leaf_hash(entry), digest):
            raise Tampered("entry changed", f"leaf {index}'s entry does not hash to its leaf "
                                            f"hash {text}")
    return digest


def _append(digests: Sequence[bytes], border: _Border, done: int) -> int:
    """Append ``digests`` (leaves ``done``..) to the border; returns the new size."""
    if digests:
        border.put_many(append_nodes(done, digests, border))
    return done + len(digests)


def audit(
    header: Mapping[str, Any],
    leaves: Iterable[Mapping[str, Any]],
    *,
    key: Ed25519PublicKey | None = None,
    saved: SignedTreeHead | None = None,
) -> Audited:
    """Verify an export (see the module docstring); raise `Tampered` naming what is wrong.

    ``key`` is the line's public key as the caller knows it (else the export's own is used, and
    only the export's internal consistency is shown); ``saved`` a head the caller kept.
    ``leaves`` may be a stream: they are checked as they come, in O(log n) memory besides the
    indices skipped over.
    """
    if header.get("format") != EXPORT_FORMAT:
        raise Tampered("malformed", f"not a {EXPORT_FORMAT} file")
    trusted = _key(header, key)
    head = head_from_json(header.get("tree_head"), "the export's tree head")
    _signed(head, trusted, "the export's tree head")
    if saved is not None:
        _signed(saved, trusted, "the saved head")
        if saved.tree_size > head.tree_size:
            raise Tampered("rollback", f"the saved head covers {saved.tree_size} leaves, the "
                                       f"export's signed tree only {head.tree_size}: the log "
                                       "was rolled back, or the export predates that head")

    order = _Order(head.tree_size)
    border, done, entries, batch = _Border(), 0, 0, []
    saved_root = EMPTY_ROOT if saved is not None and saved.tree_size == 0 else None
    for leaf in leaves:
        if not isinstance(leaf, Mapping):
            raise Tampered("malformed", f"leaf line {order.count + 1} is not a JSON object")
        batch.append(_digest(leaf, order.see(leaf.get("index"))))
        entries += "entry" in leaf
        at_saved = saved is not None and done + len(batch) == saved.tree_size
        if len(batch) == _BATCH or at_saved:
            done, batch = _append(batch, border, done), []
        if at_saved:
            saved_root = root(done, border)
    done = _append(batch, border, done)
    order.end()
    rebuilt = root(done, border)
    if not hmac.compare_digest(rebuilt, head.root_hash):
        raise Tampered("leaf hash changed", f"the {done} leaf hashes rebuild root "
                                            f"{rebuilt.hex()}, the signed head says "
                                            f"{head.root_hash.hex()}")
    if saved is not None and saved_root is not None and not hmac.compare_digest(
            saved_root, saved.root_hash):
        raise Tampered("fork", f"the saved head for {saved.tree_size} leaves has root "
                               f"{saved.root_hash.hex()}, but the export's first "
                               f"{saved.tree_size} leaves have root {saved_root.hex()}: two "
                               "different trees of one size")
    return Audited(head, key_id(trusted), done, entries, saved)


def decode_key(text: str) -> Ed25519PublicKey:
    """A public key as a party may have saved it: PEM, raw base64, or ``GET /v1/ledger/key``'s
    JSON (its ``public_key``); raises `ValueError` for anything else."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return public_key_from_pem(stripped.encode())
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict) or not isinstance(data.get("public_key"), str):
            raise ValueError("the key file's JSON has no public_key")
        stripped = data["public_key"]
    try:
        return public_key_from_raw_b64(stripped)
    except binascii.Error as error:
        raise ValueError(f"not a public key: {error}") from None
