"""Tests of signed tree heads: signed bytes, sign/verify, tampering, JSON form, keys."""

from __future__ import annotations

import base64
import dataclasses
import doctest
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.engine import tree_head
from deconfliction.engine.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    append_nodes,
    inclusion_proof,
    leaf_hash,
    root,
    verify_inclusion,
)
from deconfliction.engine.tree_head import (
    SignedTreeHead,
    VerificationError,
    generate_private_key,
    key_id,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_from_raw_b64,
    public_key_to_pem,
    public_key_to_raw_b64,
    sign_tree_head,
    tree_head_bytes,
    verify_tree_head,
)

# RFC 8032 §7.1, TEST 1: secret key, public key, and the signature of the empty message.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_EMPTY_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

# Root of the 8-leaf RFC 6962 reference tree (transparency-dev/merkle testonly/constants.go).
ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
T0 = 1_480_000_000_000  # 2016-11-24T15:06:40Z, in milliseconds

# Pinned by this implementation (Ed25519 is deterministic): a regression guard on the format.
GOLDEN_MESSAGE = (
    b'{"format":"deconfliction-tree-head/v1",'
    b'"root_hash":"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",'
    b'"timestamp_ms":1480000000000,"tree_size":8}'
)
GOLDEN_DICT: dict[str, Any] = {
    "tree_size": 8,
    "root_hash": "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    "timestamp_ms": 1480000000000,
    "signature": (
        "kIE4xlixPGUNWvGuArWBjcGKSL7zUP48GzD9odqLeOZgpZ96Iy8LTxLRZd5AahPtqaZe8S0IsbWa2FPgV8hlDQ=="
    ),
    "key_id": "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
}


@pytest.fixture
def rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)


@pytest.fixture
def sth(rfc_key: Ed25519PrivateKey) -> SignedTreeHead:
    return sign_tree_head(rfc_key, 8, ROOT_8, T0)


def flip(data: bytes, byte: int = 0) -> bytes:
    out = bytearray(data)
    out[byte] ^= 0x01
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Signed bytes and keys against known answers


def test_the_key_is_the_rfc8032_test_key(rfc_key: Ed25519PrivateKey) -> None:
    assert rfc_key.public_key().public_bytes_raw() == RFC8032_PUBLIC
    assert rfc_key.sign(b"") == RFC8032_EMPTY_SIG


def test_signed_bytes_are_canonical_json(sth: SignedTreeHead) -> None:
    assert tree_head_bytes(8, ROOT_8, T0) == GOLDEN_MESSAGE
    assert sth.signed_bytes() == GOLDEN_MESSAGE
    assert json.loads(GOLDEN_MESSAGE) == {
        "format": tree_head.FORMAT,
        "root_hash": ROOT_8.hex(),
        "timestamp_ms": T0,
        "tree_size": 8,
    }


def test_signature_and_dict_are_pinned(sth: SignedTreeHead, rfc_key: Ed25519PrivateKey) -> None:
    assert sth.to_dict() == GOLDEN_DICT
    assert sth.key_id == hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    rfc_key.public_key().verify(sth.signature, GOLDEN_MESSAGE)  # plain Ed25519 over the bytes


def test_empty_tree_head_is_signable(rfc_key: Ed25519PrivateKey) -> None:
    sth = sign_tree_head(rfc_key, 0, EMPTY_ROOT, 0)
    verify_tree_head(sth, rfc_key.public_key())


# ---------------------------------------------------------------------------------------------
# Sign, verify, tamper


def test_round_trip(sth: SignedTreeHead, rfc_key: Ed25519PrivateKey) -> None:
    verify_tree_head(sth, rfc_key.public_key())  # returns None, raises nothing


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 9},
        {"tree_size": 7},
        {"root_hash": flip(ROOT_8)},
        {"root_hash": flip(ROOT_8, 31)},
        {"root_hash": EMPTY_ROOT},
        {"timestamp_ms": T0 + 1},
        {"timestamp_ms": T0 - 1000},
        {"signature": bytes(64)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_tampered_fields_are_rejected(
    sth: SignedTreeHead, rfc_key: Ed25519PrivateKey, change: dict[str, Any]
) -> None:
    with pytest.raises(VerificationError, match="signature does not match"):
        verify_tree_head(dataclasses.replace(sth, **change), rfc_key.public_key())


@settings(max_examples=64, deadline=None)
@given(byte=st.integers(0, 63), bit=st.integers(0, 7))
def test_any_flipped_signature_bit_is_rejected(byte: int, bit: int) -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    sth = sign_tree_head(key, 8, ROOT_8, T0)
    signature = bytearray(sth.signature)
    signature[byte] ^= 1 << bit
    with pytest.raises(VerificationError):
        verify_tree_head(dataclasses.replace(sth, signature=bytes(signature)), key.public_key())


def test_wrong_key_is_rejected(sth: SignedTreeHead) -> None:
    other = generate_private_key()
    with pytest.raises(VerificationError, match="names key"):
        verify_tree_head(sth, other.public_key())
    # Even when the head is relabelled with the other key's id, the signature fails.
    relabelled = dataclasses.replace(sth, key_id=key_id(other.public_key()))
    with pytest.raises(VerificationError, match="signature does not match"):
        verify_tree_head(relabelled, other.public_key())


def test_not_a_tree_head_is_rejected(rfc_key: Ed25519PrivateKey) -> None:
    with pytest.raises(VerificationError, match="SignedTreeHead"):
        verify_tree_head(GOLDEN_DICT, rfc_key.public_key())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "root_hash", "timestamp_ms"),
    [
        (-1, ROOT_8, T0),
        (True, ROOT_8, T0),
        (2**53, ROOT_8, T0),
        (8, ROOT_8[:31], T0),
        (8, ROOT_8.hex(), T0),
        (8, ROOT_8, -1),
        (8, ROOT_8, float(T0)),
    ],
)
def test_signing_rejects_malformed_fields(
    rfc_key: Ed25519PrivateKey, size: Any, root_hash: Any, timestamp_ms: Any
) -> None:
    with pytest.raises(ValueError):
        sign_tree_head(rfc_key, size, root_hash, timestamp_ms)


def test_heads_sign_what_the_tree_proves() -> None:
    """Stages: verify the head's signature, then the leaf against the head's root."""
    key = generate_private_key()
    store = MemoryNodeStore()
    leaves = [leaf_hash(b"%d" % i) for i in range(11)]
    store.put_many(append_nodes(0, leaves, store))
    sth = sign_tree_head(key, 11, root(11, store), T0)
    received = SignedTreeHead.from_dict(json.loads(json.dumps(sth.to_dict())))
    verify_tree_head(received, key.public_key())
    proof = inclusion_proof(4, received.tree_size, store)
    verify_inclusion(leaves[4], 4, received.tree_size, proof, received.root_hash)


# ---------------------------------------------------------------------------------------------
# JSON form


def test_dict_round_trip(sth: SignedTreeHead) -> None:
    assert SignedTreeHead.from_dict(json.loads(json.dumps(sth.to_dict()))) == sth


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": None},
        {"tree_size": "8"},
        {"tree_size": True},
        {"tree_size": -1},
        {"timestamp_ms": 1.48e12},
        {"root_hash": ROOT_8.hex().upper()},
        {"root_hash": ROOT_8.hex()[:-2]},
        {"root_hash": base64.b64encode(ROOT_8).decode()},
        {"signature": "not base64!"},
        {"signature": GOLDEN_DICT["signature"][:-4]},  # 61 bytes
        {"signature": GOLDEN_DICT["signature"].rstrip("=")},  # padding required
        {"signature": bytes(64).hex()},
        {"signature": 7},
        {"key_id": GOLDEN_DICT["key_id"][:-1]},
        {"key_id": GOLDEN_DICT["key_id"].upper()},
        {"extra": 1},
    ],
    ids=repr,
)
def test_from_dict_is_strict(change: dict[str, Any]) -> None:
    data = {**GOLDEN_DICT, **change}
    with pytest.raises(ValueError):
        SignedTreeHead.from_dict(data)


@pytest.mark.parametrize("missing", sorted(GOLDEN_DICT))
def test_from_dict_needs_every_field(missing: str) -> None:
    data = {k: v for k, v in GOLDEN_DICT.items() if k != missing}
    with pytest.raises(ValueError, match=f"missing \\['{missing}'\\]"):
        SignedTreeHead.from_dict(data)


def test_from_dict_rejects_non_objects() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        SignedTreeHead.from_dict([GOLDEN_DICT])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Keys


def test_private_key_pem_round_trip() -> None:
    key = generate_private_key()
    pem = private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS #8, unencrypted
    loaded = private_key_from_pem(pem)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()


def test_encrypted_private_key_pem_round_trip() -> None:
    key = generate_private_key()
    pem = private_key_to_pem(key, password=b"correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert private_key_from_pem(pem, b"correct horse").private_bytes_raw() == (
        key.private_bytes_raw()
    )
    with pytest.raises(ValueError):
        private_key_from_pem(pem, b"wrong")


def test_public_key_pem_round_trip(rfc_key: Ed25519PrivateKey) -> None:
    pem = public_key_to_pem(rfc_key.public_key())
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")  # SubjectPublicKeyInfo
    assert public_key_from_pem(pem).public_bytes_raw() == RFC8032_PUBLIC


def test_public_key_raw_base64_round_trip(rfc_key: Ed25519PrivateKey) -> None:
    text = public_key_to_raw_b64(rfc_key.public_key())
    assert text == base64.b64encode(RFC8032_PUBLIC).decode()
    assert len(text) == 44
    assert public_key_from_raw_b64(text).public_bytes_raw() == RFC8032_PUBLIC


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(bytes(31)).decode(), "é"])
def test_malformed_raw_public_keys_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        public_key_from_raw_b64(text)


def test_key_id_is_sha256_of_raw_public_key(rfc_key: Ed25519PrivateKey) -> None:
    assert key_id(rfc_key.public_key()) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    assert (
        key_id(public_key_from_raw_b64(public_key_to_raw_b64(rfc_key.public_key())))
        == (GOLDEN_DICT["key_id"])
    )


def test_non_ed25519_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    ec_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="Ed25519"):
        private_key_from_pem(private_pem)
    with pytest.raises(ValueError, match="Ed25519"):
        public_key_from_pem(public_pem)


def test_generated_keys_differ_and_work() -> None:
    a, b = generate_private_key(), generate_private_key()
    assert a.private_bytes_raw() != b.private_bytes_raw()
    public: Ed25519PublicKey = a.public_key()
    verify_tree_head(sign_tree_head(a, 1, leaf_hash(b""), T0), public)


def test_doctests() -> None:
    result = doctest.testmod(tree_head)
    assert result.attempted > 0
    assert result.failed == 0
