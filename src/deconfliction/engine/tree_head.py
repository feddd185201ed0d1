"""Signed tree heads: the ledger's size, root and time, signed by the line with Ed25519.

A party that keeps the heads it was given can later demand a consistency proof between any two
of them (`deconfliction.engine.merkle.verify_consistency`), so the line cannot rewrite what it
showed without being caught.

Signed bytes
------------
The signature covers the RFC 8785 canonical JSON of exactly four members, nothing else::

    {"format":"deconfliction-tree-head/v1","root_hash":"<64 lowercase hex>",
     "timestamp_ms":<int>,"tree_size":<int>}

(one line, no spaces, members in that order: RFC 8785 sorts them). ``format`` separates these
signatures from any other the same key makes and versions the layout; the hash algorithm is
fixed by it (SHA-256, RFC 9162), never chosen by a field. ``timestamp_ms`` is milliseconds since
the Unix epoch (UTC); both integers lie in 0..2**53 - 1, the range I-JSON carries exactly. The
key id is not signed: it only names the key to verify with.

JSON form
---------
`SignedTreeHead.to_dict` gives ``{"tree_size": int, "root_hash": hex, "timestamp_ms": int,
"signature": base64, "key_id": hex}``: digests (root hash, key id) as lowercase hex, the way
the ledger shows hashes everywhere; the 64-byte signature and raw public keys in standard base64
with padding (RFC 4648 §4). `SignedTreeHead.from_dict` accepts exactly that and nothing looser.

Keys
----
Private keys are stored as PEM PKCS #8, public keys as PEM SubjectPublicKeyInfo or as the raw
32 bytes in base64; a key's id is the lowercase hex SHA-256 of its raw 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deconfliction.engine.merkle import HASH_SIZE, VerificationError

__all__ = [
    "FORMAT",
    "SignedTreeHead",
    "VerificationError",
    "generate_private_key",
    "key_id",
    "private_key_from_pem",
    "private_key_to_pem",
    "public_key_from_pem",
    "public_key_from_raw_b64",
    "public_key_to_pem",
    "public_key_to_raw_b64",
    "sign_tree_head",
    "tree_head_bytes",
    "verify_tree_head",
]

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
    signature holds is `verify_tree_head`'s business.
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

        Parsing says nothing about the signature: call `verify_tree_head` next.
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


def sign_tree_head(
    private_key: Ed25519PrivateKey, tree_size: int, root_hash: bytes, timestamp_ms: int
) -> SignedTreeHead:
    """Sign the head of a tree of ``tree_size`` leaves with root ``root_hash`` at a time.

    ``timestamp_ms`` comes from the caller's clock, so tests control time.

    Examples
    --------
    >>> key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    >>> sth = sign_tree_head(key, 0, hashlib.sha256(b"").digest(), 1_480_000_000_000)
    >>> verify_tree_head(sth, key.public_key())
    >>> sth.key_id == key_id(key.public_key())
    True
    """
    message = tree_head_bytes(tree_size, root_hash, timestamp_ms)
    return SignedTreeHead(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp_ms=timestamp_ms,
        signature=private_key.sign(message),
        key_id=key_id(private_key.public_key()),
    )


def verify_tree_head(sth: SignedTreeHead, public_key: Ed25519PublicKey) -> None:
    """Check that ``public_key`` signed exactly this head; raise `VerificationError` if not.

    In stages: the head must name this key, then the Ed25519 signature must hold over
    `tree_head_bytes`. Returns ``None``. Whether the root is the right one is a later stage,
    for `deconfliction.engine.merkle.verify_inclusion` and `verify_consistency`.
    """
    if not isinstance(sth, SignedTreeHead):
        raise VerificationError(f"expected a SignedTreeHead, got {type(sth).__name__}")
    expected_id = key_id(public_key)
    if not hmac.compare_digest(sth.key_id, expected_id):
        raise VerificationError(
            f"tree head names key {sth.key_id}, but the key given is {expected_id}"
        )
    try:
        public_key.verify(sth.signature, sth.signed_bytes())
    except InvalidSignature:
        raise VerificationError(
            f"signature does not match tree head of size {sth.tree_size}, root "
            f"{sth.root_hash.hex()}, time {sth.timestamp_ms} ms, under key {expected_id}"
        ) from None


# --------------------------------------------------------------------------------------------
# Keys


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key from the operating system's randomness."""
    return Ed25519PrivateKey.generate()


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's id: lowercase hex SHA-256 of its raw 32 bytes.

    Examples
    --------
    >>> key_id(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())[:16]
    '139e3940e64b5491'
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def private_key_to_pem(private_key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PEM PKCS #8, encrypted with the best available scheme when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password is not None
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load a PEM PKCS #8 private key; raise `ValueError` unless it is Ed25519."""
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    """Load a PEM SubjectPublicKeyInfo; raise `ValueError` unless it is Ed25519."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def public_key_to_raw_b64(public_key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in standard base64 (44 characters).

    Examples
    --------
    >>> public_key_to_raw_b64(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
    'O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik='
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_raw_b64(text: str) -> Ed25519PublicKey:
    """Load a raw public key from standard base64; raise `ValueError` if malformed."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(f"public key is not base64: {text!r}") from exc
    if len(raw) != 32:
        raise ValueError(f"a raw Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)
