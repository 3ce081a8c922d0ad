"""Opening the SQLite store's file: permissions, PRAGMAs, schema and the revision counter.

:func:`connect` creates the file with mode 0600 (SQLite gives the ``-wal`` and ``-shm`` files
the same mode), sets the WAL journal with ``synchronous=NORMAL`` and a busy timeout, creates
the tables on first use, refuses a file of another schema version, and recovers the revision
counter and compacted revision.

The counter is the largest of ``meta.revision`` (written at compaction and on close), the
newest logged event and the newest object: writes do not update ``meta`` (that would add a
page to every commit, about 30% of a write), yet the counter never goes back. Only
compaction removes events, and it records ``meta.revision`` in the same transaction.

Called by :class:`gitkube.store.sqlite.SqliteStore` only; any SQLite failure is a
``StoreError`` naming the file.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sqlite3
from dataclasses import dataclass

from gitkube import errors

__all__ = ["SCHEMA_VERSION", "OpenedDatabase", "connect", "save_revision"]

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 5000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
    " mod_revision INTEGER NOT NULL, create_revision INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, key TEXT NOT NULL,"
    " type TEXT NOT NULL, value TEXT NOT NULL, prev_value TEXT)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0),"
    f" ('schema', {SCHEMA_VERSION})",
)


@dataclass(frozen=True)
class OpenedDatabase:
    """An open connection (autocommit mode: callers BEGIN/COMMIT) and the counters."""

    conn: sqlite3.Connection
    revision: int
    compacted: int


def save_revision(conn: sqlite3.Connection, revision: int) -> None:
    """Record the counter in ``meta`` (inside the caller's transaction)."""
    conn.execute("UPDATE meta SET value = ? WHERE name = 'revision' AND value < ?", (revision, revision))


def connect(path: pathlib.Path) -> OpenedDatabase:
    """Open (creating if needed) the store file at ``path``."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        raise errors.StoreError(f"cannot open store database {path}: {exc.strerror}") from exc
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise errors.StoreError(
                f"cannot open store database {path}: the file system does not support SQLite's "
                f"WAL journal (journal_mode is {mode})"
            )
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA_VERSION:
            raise errors.StoreError(
                f"cannot open store database {path}: schema version {meta.get('schema')} is not "
                f"{SCHEMA_VERSION} (written by another gitkube version?)"
            )
        compacted = int(meta["compacted"])
        newest = conn.execute(
            "SELECT max(coalesce((SELECT max(revision) FROM events), 0),"
            " coalesce((SELECT max(mod_revision) FROM objects), 0), ?, ?)",
            (int(meta["revision"]), compacted),
        ).fetchone()[0]
        revision = int(newest)
        save_revision(conn, revision)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise errors.StoreError(f"cannot open store database {path}: {exc}") from exc
        raise
    _log.debug("opened %s at revision %d (compacted %d)", path, revision, compacted)
    return OpenedDatabase(conn, revision, compacted)
