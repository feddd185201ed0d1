"""/v1/ledger: the evidence ledger — key, signed heads, proofs, entries by need-to-know,
receipts. Hashes are lowercase hex; signatures and raw keys base64 (engine/tree_head.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from deconfliction.api.deps import CurrentParty, LineDep
from deconfliction.api.paging import Cursor, Limit
from deconfliction.api.views import head_view, leaf_view
from deconfliction.engine.tree_head import key_id, public_key_to_pem, public_key_to_raw_b64
from deconfliction.service import ledger
from deconfliction.service.paging import PAGE_MAX

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

Count = Annotated[int, Query(ge=0, le=2**53 - 1)]


@router.get("/key", summary="The line's Ed25519 public key (verifies every tree head)")
async def key(_party: CurrentParty, line: LineDep) -> dict[str, Any]:
    public = await ledger.public_key(line)
    return {"algorithm": "Ed25519", "key_id": key_id(public),
            "public_key": public_key_to_raw_b64(public),
            "public_key_pem": public_key_to_pem(public).decode("ascii")}


@router.get("/head", summary="The latest signed tree head")
async def head(_party: CurrentParty, line: LineDep) -> dict[str, Any]:
    return head_view(await ledger.latest_head(line))


@router.get("/proofs/inclusion", summary="Inclusion proof of a leaf in a signed tree")
async def inclusion(
    _party: CurrentParty, line: LineDep, index: Count, tree_size: Count | None = None,
) -> dict[str, Any]:
    proof = await ledger.inclusion(line, index, tree_size)
    return {"leaf_index": proof.index, "tree_size": proof.tree_size,
            "leaf_hash": proof.leaf_hash.hex(), "inclusion_proof": [p.hex() for p in proof.path],
            "tree_head": head_view(proof.head) if proof.head else None}


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes")
async def consistency(
    _party: CurrentParty, line: LineDep, first: Count, second: Count | None = None,
) -> dict[str, Any]:
    proof = await ledger.consistency(line, first, second)
    return {"first": proof.first, "second": proof.second,
            "consistency_proof": [p.hex() for p in proof.path],
            "first_head": head_view(proof.first_head) if proof.first_head else None,
            "second_head": head_view(proof.second_head) if proof.second_head else None}


@router.get("/entries", summary="Leaves in full where you are party to them, else their hash")
async def entries(
    party: CurrentParty, line: LineDep, start: Count = 0, end: Count | None = None,
    limit: Limit = PAGE_MAX, cursor: Cursor = None,
) -> dict[str, Any]:
    page = await ledger.entries(line, party, start, end, limit=limit, cursor=cursor)
    return {"size": page.size, "signed_size": page.signed_size,
            "entries": [leaf_view(leaf, party) for leaf, _full in page.leaves],
            "next": page.next}


@router.get("/receipts/{index}", summary="A write's receipt: its leaf, signed head and proof")
async def receipt(
    _party: CurrentParty, line: LineDep,
    index: Annotated[int, Path(ge=0, le=2**53 - 1)],
) -> dict[str, Any]:
    found = await ledger.receipt(line, index)
    return {"leaf_index": found.leaf.index, "leaf_hash": found.leaf.leaf_hash.hex(),
            "pending": found.head is None,
            "tree_head": head_view(found.head) if found.head else None,
            "inclusion_proof": None if found.path is None else [p.hex() for p in found.path]}
