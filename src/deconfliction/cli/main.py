"""The ``deconfliction`` command: serve the line, manage parties, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from deconfliction import __version__
from deconfliction.cli import heap, ledger

GRACEFUL_SHUTDOWN_S = 3.0  # how long open event streams may delay a clean stop


def _database_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", type=Path, default=None,
                       help="SQLite file (default ./deconfliction.db)")
    where.add_argument("--database-url", default=None,
                       help="postgresql://user@host:port/dbname instead of SQLite")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deconfliction", description="A neutral deconfliction line for air operators.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the line's HTTP API")
    _database_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    serve.add_argument("--log-format", choices=["text", "json"], default=None,
                       help="log lines as text (default) or one JSON object a line "
                            "(overrides [log] format)")

    party = commands.add_parser("party", help="add, list or revoke parties")
    actions = party.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a party and print its token (shown once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["operator", "authority", "observer"])
    _database_args(add)
    listing = actions.add_parser("list", help="list parties (never their tokens)")
    _database_args(listing)
    revoke = actions.add_parser("revoke", help="revoke a party's token")
    revoke.add_argument("name")
    _database_args(revoke)

    feed = commands.add_parser("feed", help="feed live surveillance into the line")
    kinds = feed.add_subparsers(dest="kind", required=True)
    sbs = kinds.add_parser("sbs", help="a BaseStation/SBS-1 text feed (dump1090/readsb :30003)")
    sbs.add_argument("address", metavar="HOST:PORT")
    _database_args(sbs)

    replay = commands.add_parser(
        "replay", help="replay recorded traffic through the live pipeline, then summarise alerts")
    replay.add_argument("source", nargs="?", default="opensky-sample",
                        help="'opensky-sample' (real ADS-B, fetched once into a cache) "
                             "or an SBS capture file")
    replay.add_argument("--speed", type=float, default=0.0,
                        help="N× real time (default 0: as fast as possible)")
    replay.add_argument("--db", type=Path, default=None,
                        help="keep the replay's database here (default: a temporary file)")
    replay.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    replay.add_argument("--start", type=float, default=0.0,
                        help="skip this many seconds of the recording")
    replay.add_argument("--duration", type=float, default=None,
                        help="replay only this many seconds of the recording")

    ledger.add_commands(commands, _database_args)

    demo = commands.add_parser(
        "demo", help="serve the northern-Syria demo: a seeded day, simulated aircraft and "
                     "hotline traffic (fresh database)")
    demo.add_argument("--db", type=Path, default=Path("demo.db"),
                      help="SQLite file, deleted and created anew (default ./demo.db)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    demo.add_argument("--real-traffic", action="store_true",
                      help="replay the real OpenSky ADS-B sample (around Paris) instead of "
                           "the simulated aircraft")
    return parser


def _fail(message: str) -> int:
    print(f"deconfliction: error: {message}", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from deconfliction.store import open_store

    return open_store(db_path=args.db, database_url=args.database_url)


def shown_url(url: str) -> str:
    """A database URL fit to print: its password, if any, as ``***``.

    >>> shown_url("postgresql://line:s3cret@db.example:5432/line")
    'postgresql://line:***@db.example:5432/line'
    >>> shown_url("postgresql://postgres@127.0.0.1/test")
    'postgresql://postgres@127.0.0.1/test'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(args: argparse.Namespace) -> int:
    from deconfliction.api.app import create_app
    from deconfliction.api.metrics import METRICS_PATH, Metrics
    from deconfliction.api.observe import Observed
    from deconfliction.api.routes.hotline import LEAN_ROUTES
    from deconfliction.api.server import listen, serve
    from deconfliction.cli import logs
    from deconfliction.config import load_server_settings, load_settings
    from deconfliction.service.line import Line

    settings = load_settings(args.config)
    server = load_server_settings(args.config)
    form = args.log_format or server.log_format
    listener = logs.configure(server.log_level, form)
    url = _url(args.host, args.port)
    try:
        try:  # before anything says "serving", or opens the database
            sock = listen(args.host, args.port)
        except OSError as error:  # a busy port, an address not on this machine
            print(f"deconfliction: error: cannot listen on {url}: "
                  f"{error.strerror or error}", file=sys.stderr)
            return 1
        store = _open(args)
        line = Line(store, settings)
        metrics = Metrics(line) if server.metrics else None
        app = Observed(create_app(line), metrics=metrics, lean_routes=LEAN_ROUTES)
        log = logging.getLogger("deconfliction.server")
        where = shown_url(args.database_url) if args.database_url else str(
            (args.db or Path("deconfliction.db")).resolve())
        limits = settings.limits
        shown_limits = (f"body {limits.body_bytes} B, {limits.connections} connections, "
                        f"{limits.streams_per_party} streams a party, "
                        f"{limits.messages_per_minute} messages a minute a party, "
                        f"{limits.reports_per_batch} reports a batch")
        profile = settings.profile
        shown_profile = (f"{profile.name} ({profile.horizontal_m:g} m / "
                         f"{profile.vertical_m:g} m, look-ahead {profile.look_ahead_s:g} s)")
        shown_metrics = (f"{url}{METRICS_PATH} (observers, or from loopback)"
                         if metrics is not None else "off")
        log.info("deconfliction %s; database %s (%s); profile %s", __version__, where,
                 store.backend, shown_profile, extra={
                     "event": "start", "version": __version__, "database": where,
                     "backend": store.backend, "profile": profile.name})
        log.info("limits: %s; metrics %s; log level %s, %s", shown_limits, shown_metrics,
                 server.log_level, form, extra={
                     "event": "start", "limits": dataclasses.asdict(limits),
                     "metrics": metrics is not None, "log_level": server.log_level,
                     "log_format": form})
        log.info("serving %s", url, extra={"event": "serving", "url": url})
        heap.settle()  # full collections then walk only what serving makes, not the imports
        # open event streams never end by themselves: give them a moment, then close them
        serve(app, args.host, args.port, limits, graceful_shutdown_s=GRACEFUL_SHUTDOWN_S,
              sock=sock)
        log.info("stopped", extra={"event": "stopped"})
        return 0
    finally:
        listener.stop()


async def _party(args: argparse.Namespace) -> int:
    from deconfliction.model.party import Role
    from deconfliction.service import parties
    from deconfliction.service.line import Line

    line = Line(_open(args))
    try:
        if args.action == "add":
            party, token = await parties.add_party(line, args.name, Role(args.role), time.time())
            print(f"party {party.name!r} added as {party.role.value}; its bearer token "
                  "(shown once, stored only as a hash):", file=sys.stderr)
            print(token)
        elif args.action == "list":
            found = await parties.list_parties(line)
            print(f"{'NAME':<24} {'ROLE':<10} STATUS")
            for p in found:
                print(f"{p.name:<24} {p.role.value:<10} {'active' if p.active else 'revoked'}")
        else:
            await parties.revoke_party(line, args.name, time.time())
            print(f"party {args.name!r} revoked", file=sys.stderr)
    finally:
        await line.store.close()
    return 0


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host, int(port)


def _feed(args: argparse.Namespace) -> int:
    from deconfliction.feeds.pipeline import run_sbs_feed
    from deconfliction.service.line import Line

    host, port = _host_port(args.address)
    line = Line(_open(args))

    async def go() -> None:
        stop = asyncio.Event()
        try:
            await run_sbs_feed(line, host, port, stop)
        finally:
            await line.store.close()

    print(f"feeding SBS from {host}:{port} (Ctrl-C to stop)", file=sys.stderr)
    asyncio.run(go())
    return 0


def _replay(args: argparse.Namespace) -> int:
    import tempfile

    from deconfliction.config import load_settings
    from deconfliction.feeds import pipeline
    from deconfliction.service.line import Line
    from deconfliction.store.sqlite import SqliteStore

    if args.speed < 0:
        raise ValueError("--speed must be ≥ 0")
    settings = load_settings(args.config)
    if args.source == "opensky-sample":
        from deconfliction.feeds.opensky_sample import fetch_sample, load_sample

        print("loading the OpenSky sample …", file=sys.stderr, flush=True)
        states = list(pipeline.states_from_sample(load_sample(fetch_sample())))
    else:
        path = Path(args.source)
        if not path.is_file():
            raise FileNotFoundError(f"no SBS capture file {path}")
        states = list(pipeline.states_from_sbs_file(path))
    if states:
        first = min(s.time for s in states) + args.start
        last = first + args.duration if args.duration is not None else float("inf")
        states = [s for s in states if first <= s.time <= last]
    with tempfile.TemporaryDirectory(prefix="deconfliction-replay-") as tmp:
        db = args.db or Path(tmp) / "replay.db"
        line = Line(SqliteStore.open(db), settings)

        async def go() -> pipeline.ReplaySummary:
            try:
                return await pipeline.replay(line, states, speed=args.speed)
            finally:
                await line.store.close()

        print(f"replaying {len(states):,} states (profile {settings.profile.name})",
              file=sys.stderr, flush=True)
        summary = asyncio.run(go())
    print(pipeline.summary_table(summary))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from deconfliction.cli.demo import run_demo
    from deconfliction.config import load_settings

    return run_demo(args.db, args.host, args.port, settings=load_settings(args.config),
                    real_traffic=args.real_traffic)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from deconfliction.config import ConfigError
    from deconfliction.service.errors import LineError

    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "party":
            return asyncio.run(_party(args))
        if args.command == "feed":
            return _feed(args)
        if args.command == "replay":
            return _replay(args)
        if args.command in ("ledger", "incident"):
            return ledger.run(args, _open)
        return _demo(args)
    except LineError as error:
        return _fail(error.detail)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # database unreachable and the like: a message, no traceback
        return _fail(f"{type(error).__name__}: {error}")
