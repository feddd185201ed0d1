"""Persistence behind one interface (``base.Store``): SQLite (embedded default), PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from deconfliction.store.base import IndexedVolume, Repository, Store

__all__ = ["IndexedVolume", "Repository", "Store", "open_store"]


def open_store(*, db_path: Path | None = None, database_url: str | None = None) -> Store:
    """Open (creating or migrating) the database named by a SQLite path or a URL."""
    if database_url:
        if database_url.startswith("sqlite:///"):
            from deconfliction.store.sqlite import SqliteStore

            return SqliteStore.open(Path(database_url.removeprefix("sqlite:///")))
        from deconfliction.store.postgres import PostgresStore

        return PostgresStore.open(database_url)
    from deconfliction.store.sqlite import SqliteStore

    return SqliteStore.open(Path(db_path or "deconfliction.db"))
