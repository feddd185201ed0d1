"""Repository functions for the ledger: leaves appended in the writer's transaction, the tree's
nodes and signed heads (added off the write path by the signer), and the signing key.

The store only stores: a leaf comes as a `LeafDraft` whose entry, salt, readers and hash the
service made (``service.evidence``); `append_leaves` gives it the next index.

A leaf's index is taken in the statement that inserts it (one more than the largest so far).
SQLite has one writer, so indices follow commit order. On PostgreSQL two transactions that
read the same largest index collide under SERIALIZABLE and one is aborted with SQLSTATE 40001,
which the store retries: committed leaves always form a gap-free prefix 0..n-1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Double,
    LargeBinary,
    String,
    Text,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy import update as update_
from sqlalchemy.engine import Row

from deconfliction.model.fastjson import dumps_text
from deconfliction.model.ledger import (  # node_hash: levels 1-3 are hashed up when read
    Leaf,
    LeafDraft,
    NodeId,
    SignedTreeHead,
    SigningKey,
    node_hash,
)
from deconfliction.store.hot import hot
from deconfliction.store.schema import (
    ledger_head,
    ledger_key,
    ledger_leaf,
    ledger_node,
    ledger_state,
)
from deconfliction.store.unit_of_work import ThreadConnection

_LEAF_COLUMNS = ["idx", "time", "kind", "parties", "entry", "leaf_hash"]


# built once: it runs in every write transaction (building a statement costs ten times what
# running a cached one does)
_APPEND_LEAF = insert(ledger_leaf).from_select(_LEAF_COLUMNS, select(
    func.coalesce(func.max(ledger_leaf.c.idx) + 1, 0), bindparam("l_time", type_=Double),
    bindparam("l_kind", type_=String), bindparam("l_parties", type_=Text),
    bindparam("l_entry", type_=LargeBinary), bindparam("l_hash", type_=LargeBinary),
)).returning(ledger_leaf.c.idx)


_NODES_PER_QUERY = 200  # indices per IN list (a proof needs ~2 log2(n)): a handful of hot plans


STORED_FROM_LEVEL = 4
"""Interior nodes are stored from this level up (subtrees of 16 leaves and more): one row per
16 leaves instead of one per leaf. A node below it is hashed up from its at most 8 leaf hashes
when it is read; a proof needs at most three such nodes. (Rows below it that a database written
by an earlier version holds are left alone and never read.)"""

_INSERT_LEAF = hot(insert(ledger_leaf))
_LEDGER_LAST = hot(select(func.max(ledger_leaf.c.idx)))
_LEAF_HASHES = hot(select(ledger_leaf.c.idx, ledger_leaf.c.leaf_hash)
                   .where(ledger_leaf.c.idx >= bindparam("start")).order_by(ledger_leaf.c.idx)
                   .limit(bindparam("limit")))
_LEAF_HASHES_OF = hot(select(ledger_leaf.c.idx, ledger_leaf.c.leaf_hash)
                      .where(ledger_leaf.c.idx.in_(bindparam("idxs", expanding=True))))
_NODES_OF = hot(select(ledger_node.c.idx, ledger_node.c.hash)
                .where(ledger_node.c.level == bindparam("level"),
                       ledger_node.c.idx.in_(bindparam("idxs", expanding=True))))
_INSERT_NODE = hot(insert(ledger_node))
_SIGNED_SIZE = hot(select(ledger_state.c.signed_size).where(ledger_state.c.id == 1))
_CLAIM_HEAD = hot(update_(ledger_state)
                  .where(ledger_state.c.id == 1,
                         ledger_state.c.signed_size == bindparam("signed_size"))
                  .values(signed_size=bindparam("new_size")))
_INSERT_HEAD = hot(insert(ledger_head))
_LATEST_HEAD = hot(select(ledger_head).order_by(ledger_head.c.tree_size.desc()).limit(1))
_HEAD_OF = hot(select(ledger_head).where(ledger_head.c.tree_size == bindparam("size")))


@dataclass(slots=True)
class LeafBatch:
    """The leaves of one SQLite group commit: numbered in memory (the batch holds the only write
    lock, so it owns the next indices) and inserted by one statement before the commit, instead
    of one insert per leaf. A unit that fails rewinds to where it started."""

    next: int | None = None
    pending: list[Leaf] = field(default_factory=list)

    def mark(self) -> tuple[int | None, int]:
        return self.next, len(self.pending)

    def rewind(self, mark: tuple[int | None, int]) -> None:
        self.next, kept = mark
        del self.pending[kept:]


def _leaf(row: Row[Any]) -> Leaf:
    return Leaf(int(row.idx), row.time, row.kind, tuple(json.loads(row.parties)),
                bytes(row.entry), bytes(row.leaf_hash))


def _subtree_hash(leaves: Mapping[NodeId, bytes], level: int, index: int) -> bytes | None:
    """The hash of the complete subtree at (``level``, ``index``) from its leaf hashes in
    ``leaves`` (keyed ``(0, i)``), or None if one of them is missing (not appended yet)."""
    first = index << level
    try:
        row = [leaves[(0, i)] for i in range(first, first + (1 << level))]
    except KeyError:
        return None
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def _head(row: Any) -> SignedTreeHead:
    return SignedTreeHead(int(row.tree_size), bytes(row.root_hash), int(row.timestamp_ms),
                          bytes(row.signature), row.key_id)


class LedgerSql:
    """Mixed into the SQL repository; shares its connection."""

    _c: ThreadConnection
    _leaf_batch: LeafBatch | None

    # appending (in the writer's transaction) ------------------------------------------------
    async def append_leaves(self, drafts: Sequence[LeafDraft]) -> list[Leaf]:
        """Append these leaves, in order, in this unit of work; the appended leaves (indices).

        In a SQLite group commit (``LeafBatch``) they are numbered in memory and inserted with
        the batch; otherwise each is inserted with the next index in one statement."""
        batch = self._leaf_batch
        if batch is None:
            leaves = []
            for d in drafts:
                index = await self._c.scalar(_APPEND_LEAF, {
                    "l_time": d.time, "l_kind": d.kind, "l_parties": dumps_text(d.parties),
                    "l_entry": d.entry, "l_hash": d.leaf_hash})
                leaves.append(d.at(int(index)))
        else:
            if batch.next is None:
                batch.next = await self.ledger_size()
            first = batch.next
            batch.next += len(drafts)
            leaves = [d.at(first + i) for i, d in enumerate(drafts)]
            batch.pending += leaves
        return leaves

    async def insert_leaves(self, leaves: Sequence[Leaf]) -> None:
        """Insert a group commit's numbered leaves (``LeafBatch``), in one statement."""
        if leaves:
            await self._c.execute(_INSERT_LEAF, [
                {"idx": leaf.index, "time": leaf.time, "kind": leaf.kind,
                 "parties": dumps_text(leaf.parties), "entry": leaf.entry,
                 "leaf_hash": leaf.leaf_hash} for leaf in leaves])

    # leaves -----------------------------------------------------------------------------------
    async def ledger_size(self) -> int:
        """How many leaves the ledger holds (signed or not yet)."""
        last = await self._c.scalar(_LEDGER_LAST)
        return 0 if last is None else int(last) + 1

    async def ledger_leaves(self, start: int, end: int) -> list[Leaf]:
        """Leaves ``start <= index < end``, in order."""
        t = ledger_leaf
        query = select(t).where(t.c.idx >= start, t.c.idx < end).order_by(t.c.idx)
        return [_leaf(r) for r in await self._c.execute(query)]

    async def ledger_leaf_hashes(self, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, leaf hash)`` of up to ``limit`` leaves from ``start``, in order."""
        rows = await self._c.execute(_LEAF_HASHES, {"start": start, "limit": limit})
        return [(int(r.idx), bytes(r.leaf_hash)) for r in rows]

    # the tree ---------------------------------------------------------------------------------
    async def ledger_nodes(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        """The nodes among ``ids`` that exist (a proof needs O(log n) of them). Level 0 is the
        leaf hashes themselves, read from the leaves; levels below `STORED_FROM_LEVEL` are
        hashed up from the leaves they cover; the rest are read from the nodes, one query per
        level."""
        wanted = set(ids)
        low = [(level, index) for level, index in wanted if 0 < level < STORED_FROM_LEVEL]
        leaves = {index for level, index in wanted if level == 0}
        for level, index in low:
            leaves.update(range(index << level, (index + 1) << level))
        found: dict[NodeId, bytes] = {}
        ordered = sorted(leaves)
        for first in range(0, len(ordered), _NODES_PER_QUERY):
            rows = await self._c.execute(_LEAF_HASHES_OF, {
                "idxs": ordered[first:first + _NODES_PER_QUERY]})
            found.update(((0, int(r.idx)), bytes(r.leaf_hash)) for r in rows)
        for level, index in low:
            if (digest := _subtree_hash(found, level, index)) is not None:
                found[(level, index)] = digest
        by_level: dict[int, list[int]] = {}
        for level, index in wanted:
            if level >= STORED_FROM_LEVEL:
                by_level.setdefault(level, []).append(index)
        for level, indices in by_level.items():
            indices.sort()
            for first in range(0, len(indices), _NODES_PER_QUERY):
                rows = await self._c.execute(_NODES_OF, {
                    "level": level, "idxs": indices[first:first + _NODES_PER_QUERY]})
                found.update(((level, int(r.idx)), bytes(r.hash)) for r in rows)
        return {node: found[node] for node in wanted if node in found}

    async def put_ledger_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store the nodes among ``nodes`` from `STORED_FROM_LEVEL` up (the leaf hashes are
        stored with the leaves; the levels between are hashed up from them when read)."""
        rows = [{"level": level, "idx": index, "hash": digest}
                for level, index, digest in nodes if level >= STORED_FROM_LEVEL]
        if rows:
            await self._c.execute(_INSERT_NODE, rows)

    async def ledger_signed_size(self) -> int:
        """The size of the latest signed tree head (0 before the first)."""
        return int(await self._c.scalar(_SIGNED_SIZE) or 0)

    async def claim_ledger_head(self, signed_size: int, new_size: int) -> bool:
        """Move the signer's position from ``signed_size`` to ``new_size``; False if another
        signer moved it first. On PostgreSQL a concurrent claim waits on this row, then fails
        with 40001 and is retried."""
        result = await self._c.execute(_CLAIM_HEAD, {"signed_size": signed_size,
                                                     "new_size": new_size})
        return result.rowcount == 1

    async def put_ledger_head(self, head: SignedTreeHead) -> None:
        await self._c.execute(_INSERT_HEAD, {
            "tree_size": head.tree_size, "root_hash": head.root_hash,
            "timestamp_ms": head.timestamp_ms, "signature": head.signature,
            "key_id": head.key_id})

    async def latest_ledger_head(self) -> SignedTreeHead | None:
        row = (await self._c.execute(_LATEST_HEAD)).first()
        return _head(row) if row else None

    async def ledger_head_covering(self, index: int) -> SignedTreeHead | None:
        """The first signed head whose tree includes leaf ``index``."""
        h = ledger_head
        row = (await self._c.execute(select(h).where(h.c.tree_size > index)
                                     .order_by(h.c.tree_size).limit(1))).first()
        return _head(row) if row else None

    async def ledger_head_of(self, size: int) -> SignedTreeHead | None:
        """The signed head of exactly ``size`` leaves, if one was signed."""
        row = (await self._c.execute(_HEAD_OF, {"size": size})).first()
        return _head(row) if row else None

    # the signing key --------------------------------------------------------------------------
    async def ledger_key(self) -> SigningKey | None:
        """The line's signing key (the first made, should there be more)."""
        k = ledger_key
        row = (await self._c.execute(select(k).order_by(k.c.created_at, k.c.key_id)
                                     .limit(1))).first()
        return SigningKey(row.key_id, row.private_key_pem.encode(), row.created_at) if row else None

    async def put_ledger_key(self, key: SigningKey) -> None:
        await self._c.execute(insert(ledger_key).values(
            key_id=key.key_id, private_key_pem=key.private_key_pem.decode(),
            created_at=key.created_at))
