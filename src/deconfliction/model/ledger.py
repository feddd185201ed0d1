"""The ledger's records: leaves (one per accepted write) and the line's signing key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


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
class SigningKey:
    """The line's Ed25519 key as stored: its id and its PEM PKCS #8 private key."""

    key_id: str
    private_key_pem: bytes
    created_at: float
