"""``deconfliction ledger …``: export a party's view of the ledger, verify an export, save a
head; and ``deconfliction incident export``, the package for a joint review of an incident.

``export``, ``head`` and ``incident`` read the line's database; ``verify`` needs only the files,
so a party can check an export on its own machine with the key and heads it kept from the API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

EXIT_TAMPERED = 1  # verification failed; 2 (argparse, cli._fail) is for usage and I/O errors


EXPORT_WINDOW_S = 86_400.0  # ledger export without --from: the last 24 hours (issue 17)


def _time(text: str) -> float:
    """An RFC 3339 time with its offset (``2026-11-28T06:00:00Z``) as UTC seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time's offset (e.g. Z): {text!r}")
    return moment.timestamp()


def add_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    database_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``ledger`` command and its actions."""
    ledger = commands.add_parser("ledger", help="export, verify and keep heads of the ledger")
    actions = ledger.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export", help="a party's entries in full, every other leaf as its hash, the signed "
                       "tree head and the public key (JSON Lines)")
    export.add_argument("--party", required=True)
    export.add_argument("--from", dest="start", type=_time, default=None,
                        help="entries from this time (RFC 3339; default: 24 hours before --to)")
    export.add_argument("--to", dest="end", type=_time, default=None,
                        help="entries up to this time (RFC 3339; default: now)")
    export.add_argument("out", type=Path)
    database_args(export)
    verify = actions.add_parser(
        "verify", help="check every leaf, the tree, the signature and consistency with a "
                       "saved head; exit 1 naming any tampering")
    verify.add_argument("file", type=Path)
    verify.add_argument("--head", type=Path, default=None,
                        help="a tree head saved earlier (ledger head, GET /v1/ledger/head)")
    verify.add_argument("--key", type=Path, default=None,
                        help="the line's public key (PEM, base64, or GET /v1/ledger/key JSON)")
    head = actions.add_parser("head", help="save the latest signed tree head (JSON)")
    head.add_argument("out", type=Path)
    database_args(head)

    incident = commands.add_parser("incident", help="packages for the review of an incident")
    kinds = incident.add_subparsers(dest="action", required=True)
    package = kinds.add_parser(
        "export", help="the window's operations, constraints, alerts, hotline traffic and track "
                       "batches from the ledger, with proofs, a timeline and a map (PNG)")
    package.add_argument("--from", dest="start", type=_time, required=True)
    package.add_argument("--to", dest="end", type=_time, required=True)
    package.add_argument("--area", default=None,
                         help="a GeoJSON Polygon or Circle (a file, or the JSON itself)")
    package.add_argument("--party", default=None,
                         help="the package a party may read: its own records, the public ones "
                              "and its own view of each alert (default: the whole truth, as "
                              "observers read it)")
    package.add_argument("out", type=Path, help="a directory: incident.json, timeline.png, "
                                                "map.png")
    database_args(package)


def run(args: argparse.Namespace, open_store: Callable[[argparse.Namespace], object]) -> int:
    if args.command == "incident":
        return asyncio.run(_incident(args, open_store))
    if args.action == "verify":
        return _verify(args)
    return asyncio.run(_with_line(args, open_store))


def _area(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    source = Path(text).read_text() if not text.lstrip().startswith("{") else text
    try:
        data = json.loads(source)
    except ValueError as error:
        raise ValueError(f"--area is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("--area must be a GeoJSON object")
    return data


async def _incident(args: argparse.Namespace,
                    open_store: Callable[[argparse.Namespace], object]) -> int:
    from deconfliction.cli.incident_plots import situation_map, timeline
    from deconfliction.service.incident import collect
    from deconfliction.service.line import Line

    area = _area(args.area)
    line = Line(open_store(args))  # type: ignore[arg-type]
    try:
        reader = None
        if args.party is not None:
            reader = await line.store.interact(lambda repo: repo.party(args.party))
            if reader is None:
                print(f"error: no party named {args.party!r}", file=sys.stderr)
                return 1
        incident = (await collect(line, args.start, args.end, area, reader=reader)).to_json()
    finally:
        await line.store.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "incident.json").write_text(json.dumps(incident, indent=1, ensure_ascii=False)
                                            + "\n")
    timeline(incident, args.out / "timeline.png")
    situation_map(incident, args.out / "map.png")
    print(f"incident package in {args.out}: {len(incident['alerts'])} alert records, "
          f"{len(incident['messages'])} messages, {len(incident['operations'])} operations, "
          f"{len(incident['constraints'])} constraints, {len(incident['ledger'])} ledger entries "
          f"with proofs under the tree head of size {incident['tree_head']['tree_size']}",
          file=sys.stderr)
    return 0


async def _with_line(args: argparse.Namespace,
                     open_store: Callable[[argparse.Namespace], object]) -> int:
    from deconfliction.api.views import head_view
    from deconfliction.model.time import rfc3339
    from deconfliction.service import ledger
    from deconfliction.service.ledger_export import export
    from deconfliction.service.line import Line

    line = Line(open_store(args))  # type: ignore[arg-type]
    try:
        if args.action == "export":
            end = time.time() if args.end is None else args.end
            start = end - EXPORT_WINDOW_S if args.start is None else args.start
            done = await export(line, args.party, args.out, start=start, end=end)
            window = f"from {rfc3339(start)} to {rfc3339(end)}"
            if done.entries == 0:
                print(f"no entries of {args.party} {window}: {args.out} holds each of the "
                      f"{done.head.tree_size} leaves as its hash only (widen the window with "
                      "--from/--to)", file=sys.stderr)
            else:
                print(f"exported {done.head.tree_size} leaves ({done.entries} entries of "
                      f"{args.party} in full, {window}) under the signed tree head of size "
                      f"{done.head.tree_size} to {args.out}", file=sys.stderr)
        else:
            key = await ledger.signing_key(line)
            await ledger.sign_pending(line, key)
            saved = head_view(await ledger.latest_head(line))
            args.out.write_text(json.dumps(saved, indent=2) + "\n")
            print(f"saved the tree head of size {saved['tree_size']} to {args.out}",
                  file=sys.stderr)
    finally:
        await line.store.close()
    return 0


def _verify(args: argparse.Namespace) -> int:
    from deconfliction.engine.ledger_audit import Tampered, audit, decode_key, head_from_json
    from deconfliction.engine.merkle import VerificationError
    from deconfliction.model.time import rfc3339
    from deconfliction.service.ledger_export import read_export

    key = decode_key(args.key.read_text()) if args.key else None
    try:
        saved = None
        if args.head is not None:
            try:
                data = json.loads(args.head.read_text())
            except ValueError as error:
                raise Tampered("malformed", f"{args.head} is not JSON ({error})") from None
            saved = head_from_json(data, f"the saved head {args.head}")
        header, leaves = read_export(args.file)
        done = audit(header, leaves, key=key, saved=saved)
    except (Tampered, VerificationError) as failure:
        print(f"deconfliction: verification failed: {failure}", file=sys.stderr)
        return EXIT_TAMPERED
    head = done.head
    trust = "the key given" if key is not None else "the export's own key: pass --key to pin it"
    print(f"ok: {done.leaves} leaves, {done.entries} entries in full; root "
          f"{head.root_hash.hex()} signed {rfc3339(head.timestamp_ms / 1000)} by key "
          f"{done.key_id} ({trust})"
          + (f"; consistent with the saved head of size {done.saved.tree_size}"
             if done.saved is not None else ""))
    return 0
