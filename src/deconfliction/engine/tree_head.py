"""Signed tree heads: the ledger's size, root and time, signed by the line with Ed25519.

A party that keeps the heads it was given can later demand a consistency proof between any two
of them (`deconfliction.engine.merkle.verify_consistency`), so the line cannot rewrite what it
showed without being caught.

The head itself, its signed bytes and its JSON form are value types of the model
(`deconfliction.model.ledger.SignedTreeHead`, `tree_head_bytes`), re-exported here; this module
signs and verifies them.

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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deconfliction.engine.merkle import VerificationError
from deconfliction.model.ledger import FORMAT, SignedTreeHead, tree_head_bytes

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
