"""The ledger: signing its tree heads, proofs, entries by need-to-know, and write receipts.

Every write a use case makes appends the leaves recording it in its own unit of work
(``service.evidence``, ``repo.append_leaves``) and returns them as its receipt.
The tree's nodes and a signed tree head are added here, off the write path: `run_signer` signs
at most once a second while there are new leaves (issue: "a new signed tree head at most once a
second"), so a write waits for one INSERT, never for hashing a tree or signing. A write's
receipt names its leaf at once; the head that includes it follows within about a second
(`receipt`).

Signing is safe with several processes on one database: a head is written in one transaction
that first moves the signer's position from the size it read (``claim_ledger_head``); a second
signer that read the same size finds it moved and signs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deconfliction.engine.merkle import (
    NodeId,
    append_nodes,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    root,
    root_nodes,
)
from deconfliction.engine.tree_head import (
    SignedTreeHead,
    generate_private_key,
    key_id,
    private_key_from_pem,
    private_key_to_pem,
    sign_tree_head,
)
from deconfliction.model.ledger import Leaf, SigningKey
from deconfliction.model.party import Party
from deconfliction.service import access, paging
from deconfliction.service.errors import FieldError, NotFound, ValidationFailed
from deconfliction.service.line import Line
from deconfliction.store.base import Repository

log = logging.getLogger(__name__)

SIGN_INTERVAL_S = 1.0  # issue: a new signed tree head at most once a second
SIGNER_POLL_S = 0.1  # how often the signer looks for new leaves once the interval has passed
SIGN_BATCH = 100_000  # leaves per head at most (a backlog is signed over several heads)
MAX_ENTRIES = 1000  # leaves per page of GET /v1/ledger/entries


# --------------------------------------------------------------------------------------------
# The signing key


async def signing_key(line: Line) -> Ed25519PrivateKey:
    """The line's Ed25519 key, made and stored with the data at first use (once, even with
    several processes starting together: the second's insert fails its transaction, which
    then finds the first's key)."""
    stored = await line.store.interact(lambda repo: repo.ledger_key())
    if stored is None:
        fresh = generate_private_key()
        made = SigningKey(key_id(fresh.public_key()), private_key_to_pem(fresh), line.clock())

        async def work(repo: Repository) -> SigningKey:
            found = await repo.ledger_key()
            if found is None:
                await repo.put_ledger_key(made)
                return made
            return found

        stored = await line.store.transact(work)
    return private_key_from_pem(stored.private_key_pem)


async def public_key(line: Line) -> Ed25519PublicKey:
    return (await signing_key(line)).public_key()


# --------------------------------------------------------------------------------------------
# Signing tree heads


class _Nodes:
    """A read-only `engine.merkle.NodeReader` over nodes fetched from the store."""

    def __init__(self, nodes: Mapping[NodeId, bytes]) -> None:
        self._nodes = nodes

    def get(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise KeyError(f"ledger node ({level}, {index}) is not stored") from None


async def sign_pending(
    line: Line, key: Ed25519PrivateKey, *, limit: int = SIGN_BATCH
) -> SignedTreeHead | None:
    """Add the nodes of the leaves appended since the latest head and sign a head over them.

    Returns the new head, or None when there was nothing to sign or another signer got there
    first. The first call on an empty ledger signs the empty tree, so a head always exists.
    """

    Signing = tuple[int, list[tuple[int, int, bytes]], SignedTreeHead] | None

    async def read_and_hash(repo: Repository) -> Signing:
        # hashing a second's leaves (thousands at 1,000 messages/s) runs here, on the store's
        # worker thread, not on the event loop, which would stall every stream meanwhile
        size = await repo.ledger_signed_size()
        found = await repo.ledger_leaf_hashes(size, limit)
        previous = await repo.latest_ledger_head()
        hashes: list[bytes] = []
        for index, digest in found:  # committed leaves are gap-free; stop at a gap all the same
            if index != size + len(hashes):
                break
            hashes.append(digest)
        if not hashes and previous is not None:
            return None  # the idle pass: three keyed reads
        border = await repo.ledger_nodes(root_nodes(size))
        nodes = append_nodes(size, hashes, _Nodes(border))
        new_size = size + len(hashes)
        known = {**border, **{(level, index): digest for level, index, digest in nodes}}
        stamp = max(int(line.clock() * 1000), previous.timestamp_ms if previous else 0)
        return size, nodes, sign_tree_head(key, new_size, root(new_size, _Nodes(known)), stamp)

    plan = await line.store.interact(read_and_hash)
    if plan is None:
        return None
    size, nodes, head = plan
    new_size = head.tree_size

    async def work(repo: Repository) -> SignedTreeHead | None:
        if new_size == size and await repo.ledger_head_of(size) is not None:
            return None  # the empty tree, signed by another process meanwhile
        if not await repo.claim_ledger_head(size, new_size):
            return None
        await repo.put_ledger_nodes(nodes)
        await repo.put_ledger_head(head)
        return head

    return await line.store.transact(work)


async def run_signer(line: Line, stop: asyncio.Event, *,
                     interval_s: float = SIGN_INTERVAL_S) -> None:
    """Sign tree heads until ``stop`` is set: at most one per ``interval_s``, only while there
    are new leaves. A failed pass is logged and tried again an interval later."""
    key: Ed25519PrivateKey | None = None
    signed_at = -float("inf")
    while not stop.is_set():
        if time.monotonic() - signed_at >= interval_s:
            try:
                key = key or await signing_key(line)
                if await sign_pending(line, key) is not None:
                    signed_at = time.monotonic()
            except Exception:
                signed_at = time.monotonic()
                log.exception("signing a ledger tree head failed; retrying")
        try:
            await asyncio.wait_for(stop.wait(), SIGNER_POLL_S)
        except TimeoutError:
            pass


# --------------------------------------------------------------------------------------------
# Reading: heads, proofs, entries, receipts


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    head: SignedTreeHead | None  # the signed head of exactly ``tree_size``, if one was signed


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    path: list[bytes]
    first_head: SignedTreeHead | None
    second_head: SignedTreeHead | None


@dataclass(frozen=True, slots=True)
class Receipt:
    """A leaf, and once it is signed the first head that includes it, with the proof."""

    leaf: Leaf
    head: SignedTreeHead | None
    path: list[bytes] | None


@dataclass(frozen=True, slots=True)
class EntryPage:
    leaves: list[tuple[Leaf, bool]]  # each with whether the caller may read it in full
    size: int  # leaves in the ledger
    signed_size: int  # leaves under the latest signed head
    next: str | None = None  # cursor of the page after this one (None: none within the range)


def _bad(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(name, message)])


async def latest_head(line: Line) -> SignedTreeHead:
    head = await line.store.interact(lambda repo: repo.latest_ledger_head())
    if head is None:
        raise NotFound("no tree head has been signed yet")
    return head


async def _planned(repo: Repository, groups: list[tuple[NodeId, ...]],
                   *extra: NodeId) -> _Nodes:
    return _Nodes(await repo.ledger_nodes([n for g in groups for n in g] + list(extra)))


async def inclusion_proofs(
    repo: Repository, indices: list[int], size: int
) -> dict[int, list[bytes]]:
    """The inclusion proof of each leaf in ``indices`` in the tree of ``size`` leaves (signed),
    reading all the nodes they need at once."""
    plans = {index: inclusion_proof_nodes(index, size) for index in indices}
    nodes = await _planned(repo, [g for plan in plans.values() for g in plan])
    return {index: inclusion_proof(index, size, nodes) for index in plans}


async def _signed_tree(repo: Repository, name: str, size: int | None) -> int:
    """The tree size a proof is asked for in ``name`` (None: the latest signed head's), refused
    when it is beyond the latest signed head."""
    signed = await repo.ledger_signed_size()
    if size is None:
        return signed
    if size > signed:
        raise _bad(name, f"{name} {size} is beyond the latest signed head ({signed} leaves)")
    return size


async def inclusion(line: Line, index: int, tree_size: int | None) -> InclusionProof:
    """The proof that leaf ``index`` is in the tree of ``tree_size`` leaves (default: the
    latest signed head), from O(log n) nodes read in a few keyed queries (one per level)."""

    async def read(repo: Repository) -> InclusionProof:
        size = await _signed_tree(repo, "tree_size", tree_size)
        if not 0 <= index < size:
            raise _bad("index", f"index {index} is outside a tree of {size} leaves")
        nodes = await _planned(repo, inclusion_proof_nodes(index, size), (0, index))
        return InclusionProof(index, size, nodes.get(0, index),
                              inclusion_proof(index, size, nodes),
                              await repo.ledger_head_of(size))

    return await line.store.interact(read)


async def consistency(line: Line, first: int, second: int | None) -> ConsistencyProof:
    """The proof that the tree of ``second`` leaves (default: the latest signed head) extends
    the tree of ``first``, from O(log n) nodes read in a few keyed queries (one per level)."""

    async def read(repo: Repository) -> ConsistencyProof:
        upper = await _signed_tree(repo, "second", second)
        if not 0 < first <= upper:
            raise _bad("first", f"consistency needs 0 < first <= second, got {first} and "
                                f"{upper}")
        nodes = await _planned(repo, consistency_proof_nodes(first, upper))
        return ConsistencyProof(first, upper, consistency_proof(first, upper, nodes),
                                await repo.ledger_head_of(first), await repo.ledger_head_of(upper))

    return await line.store.interact(read)


LEAVES: paging.Order[Leaf] = paging.Order("ledger", lambda leaf: (leaf.index,), (int,))


async def entries(
    line: Line, party: Party, start: int, end: int | None, *,
    limit: int = MAX_ENTRIES, cursor: str | None = None,
) -> EntryPage:
    """Leaves ``start <= index < end`` (at most ``limit`` <= `MAX_ENTRIES`; a ``cursor`` from
    the previous page moves ``start`` past it), each with whether ``party`` may read it in
    full (`access.leaf_readable`; else only its leaf hash). Every reader pages through every
    index: what it may not read is its hash alone."""
    if end is not None and end <= start:
        raise _bad("end", f"end ({end}) must be greater than start ({start})")
    if end is not None and end - start > MAX_ENTRIES and cursor is None:
        raise _bad("end", f"at most {MAX_ENTRIES} entries per request")
    after = LEAVES.after(cursor)
    if after is not None:
        start = max(start, after[0] + 1)
    stop = start + min(limit, MAX_ENTRIES)
    if end is not None:
        stop = min(stop, end)

    async def read(repo: Repository) -> EntryPage:
        size = await repo.ledger_size()
        leaves = await repo.ledger_leaves(start, stop) if stop > start else []
        more = bool(leaves) and leaves[-1].index + 1 < (size if end is None else min(end, size))
        return EntryPage([(leaf, access.leaf_readable(leaf, party)) for leaf in leaves],
                         size, await repo.ledger_signed_size(),
                         LEAVES.cursor(leaves[-1]) if more else None)

    return await line.store.interact(read)


async def receipt(line: Line, index: int) -> Receipt:
    """Leaf ``index`` and, once signed, the first head including it with the inclusion proof
    (the promise a write's receipt makes, kept within about `SIGN_INTERVAL_S`)."""

    async def read(repo: Repository) -> Receipt:
        found = await repo.ledger_leaves(index, index + 1)
        if not found:
            raise NotFound(f"no ledger leaf {index}")
        head = await repo.ledger_head_covering(index)
        if head is None:
            return Receipt(found[0], None, None)
        nodes = await _planned(repo, inclusion_proof_nodes(index, head.tree_size))
        return Receipt(found[0], head, inclusion_proof(index, head.tree_size, nodes))

    return await line.store.interact(read)
