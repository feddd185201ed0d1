"""The ledger's records: leaves (one per accepted write), drafts of leaves not yet appended,
who may read an entry, and the line's signing key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
