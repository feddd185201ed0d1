"""A party's export of the ledger, and reading one back for an audit (engine/ledger_audit.py).

The file is JSON Lines. The first line is a header::

    {"format": "deconfliction-ledger-export/v1", "party": "blue", "from": …, "to": …,
     "exported_at": …, "key": {"algorithm": "Ed25519", "key_id": …, "public_key": <base64>},
     "tree_head": {<signed tree head>}}

then one line per leaf of the signed tree, in order: ``{"index": i, "leaf_hash": <hex>}``, with
``"entry": {…}`` added for the entries the party may read in full (``service.access``: its
own, the public ones, its own view of each alert; observers: all) whose time falls in the
window. Every other leaf is there as its hash alone: enough to rebuild and check the whole tree
without seeing the others' data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deconfliction.engine.ledger_audit import EXPORT_FORMAT, Tampered
from deconfliction.engine.tree_head import SignedTreeHead, key_id, public_key_to_raw_b64
from deconfliction.model.time import rfc3339
from deconfliction.service import access, ledger
from deconfliction.service.errors import NotFound
from deconfliction.service.line import Line

PAGE = 10_000  # leaves read per query


@dataclass(frozen=True, slots=True)
class Exported:
    head: SignedTreeHead
    entries: int  # leaves written in full


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def export(
    line: Line, party_name: str, out: Path, *, start: float | None = None,
    end: float | None = None,
) -> Exported:
    """Write ``party_name``'s export of everything signed so far (leaves appended before this
    call are signed first) to ``out``, replacing it only once complete."""
    party = await line.store.interact(lambda repo: repo.party(party_name))
    if party is None:
        raise NotFound(f"no party named {party_name!r}")
    key = await ledger.signing_key(line)
    while await ledger.sign_pending(line, key) is not None:
        pass
    head = await ledger.latest_head(line)
    public = key.public_key()
    header = {"format": EXPORT_FORMAT, "party": party.name,
              "from": None if start is None else rfc3339(start),
              "to": None if end is None else rfc3339(end), "exported_at": rfc3339(line.clock()),
              "key": {"algorithm": "Ed25519", "key_id": key_id(public),
                      "public_key": public_key_to_raw_b64(public)},
              "tree_head": head.to_dict()}
    partial = out.with_name(out.name + ".partial")
    entries = 0
    with partial.open("w", encoding="utf-8") as file:
        file.write(_json(header) + "\n")
        for first in range(0, head.tree_size, PAGE):
            last = min(head.tree_size, first + PAGE)
            page = await line.store.interact(
                lambda repo, a=first, b=last: repo.ledger_leaves(a, b))  # type: ignore[misc]
            for leaf in page:
                item: dict[str, Any] = {"index": leaf.index, "leaf_hash": leaf.leaf_hash.hex()}
                if (access.leaf_readable(leaf, party)
                        and (start is None or leaf.time >= start)
                        and (end is None or leaf.time <= end)):
                    item["entry"] = leaf.content()
                    entries += 1
                file.write(_json(item) + "\n")
        file.flush()
        os.fsync(file.fileno())
    partial.replace(out)
    return Exported(head, entries)


def read_export(path: Path) -> tuple[Mapping[str, Any], Iterator[Mapping[str, Any]]]:
    """The header of an export file and a stream of its leaves (read as they are consumed, so
    a million leaves need not be held at once); `Tampered` ("malformed") where it is not one."""
    items = _objects(path)
    header = next(items, None)
    if header is None:
        raise Tampered("malformed", f"{path} is empty")
    return header, items


def _objects(path: Path) -> Iterator[Mapping[str, Any]]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
            except ValueError as error:  # not UTF-8, not JSON, NaN or Infinity
                raise Tampered("malformed", f"line {number} of {path} is not JSON "
                                            f"({error})") from None
            if not isinstance(item, dict):
                raise Tampered("malformed", f"line {number} of {path} is not a JSON object")
            yield item


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
