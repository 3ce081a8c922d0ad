"""The SQLite store: gitkube's default :class:`~gitkube.store.base.Store`, one file, WAL.

Tables of ``DATA/state.db`` (created with mode 0600):

- ``objects(key PK, value, mod_revision, create_revision)``: the current state, values as
  compact JSON whose ``metadata.resourceVersion`` is ``mod_revision``;
- ``events(revision PK, key, type, value, prev_value)``: the change log watches replay;
- ``meta(name PK, value)``: ``revision`` (the counter, recorded at compaction and close; on
  open the counter is the newest of it and the logged revisions, so it survives restarts and
  ``kill -9`` and never goes back; see :mod:`gitkube.store.sqlite_schema`), ``compacted``
  (newest forgotten event revision) and ``schema``.

Durability: WAL journal, ``synchronous=NORMAL``, one IMMEDIATE transaction per write. A write
that returned is in the WAL file, so it survives the process being killed (``kill -9``) at any
moment; an OS crash or power cut may lose the last commits but leaves the file consistent.
A failed write (disk full, I/O error) rolls back, changes nothing and raises ``StoreError``
naming the file. One process owns the file at a time.

Everything runs in the event-loop thread: a write costs 0.05-0.15 ms (most of it the WAL
append at commit), a get ~20 µs; a thread hop would add more than it saves.
Watches fan out in-process (:mod:`gitkube.store.watchhub`). History is bounded: once the log
spans more than ``history`` revisions plus a tenth, it is compacted down to the newest
``history`` (``history=0`` leaves compaction to :meth:`SqliteStore.compact_keep`, which the API
server can run periodically, as kube-apiserver compacts etcd every 5 minutes).

Paging differs from Kubernetes: each page is read from the current state, not from a snapshot
at the first page's revision. Every page reports the first page's revision, so a watch started
from it sees every later change (a change already reflected in a later page may be delivered
again). A continue token older than the compacted revision raises ``Gone``.

Created by :func:`gitkube.store.open_store`; used only by ``gitkube.apiserver``.
"""

from __future__ import annotations

import json
import logging
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from gitkube import errors
from gitkube.api import selectors
from gitkube.store import base, keyspace, sqlite_schema
from gitkube.store.watchhub import DEFAULT_CAPACITY, Change, ChangeFeed, WatchHub

__all__ = ["SqliteStore"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Obj = dict[str, Any]
_Items = list[_Obj]
_Changes = list[Change]
_REPLAY_CHUNK = 512


def _encode(obj: Mapping[str, Any], revision: int) -> str:
    """Compact JSON of ``obj`` with ``metadata.resourceVersion`` set to ``revision``."""
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise errors.InternalError("cannot store object: metadata is not a JSON object")
    out = dict(obj)
    out["metadata"] = {**meta, "resourceVersion": str(revision)}
    try:
        return json.dumps(out, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise errors.InternalError(f"cannot store object: not representable as JSON: {exc}") from exc


def _range_sql(column: str, prefix: str) -> tuple[str, tuple[str, ...]]:
    """The SQL condition and parameters of a key-prefix range on ``column``."""
    end = keyspace.prefix_end(prefix)
    if end is None:
        return f"{column} >= ?", (prefix,)
    return f"{column} >= ? AND {column} < ?", (prefix, end)


class SqliteStore(base.Store):
    """A :class:`~gitkube.store.base.Store` in one SQLite file (see the module doc).

    ``history`` is how many events at least stay watchable (0: never compact on its own);
    ``watch_capacity`` is how many undelivered events a watcher may lag before it gets
    ``Gone``.
    """

    def __init__(
        self,
        path: str | pathlib.Path,
        *,
        history: int = 10_000,
        watch_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if history < 0:
            raise errors.ConfigError(f"store history must be 0 or more events, not {history}")
        self.path = pathlib.Path(path)
        self.history = history
        self._watch_capacity = watch_capacity
        self._hub = WatchHub(watch_capacity)
        self._conn: sqlite3.Connection | None = None
        self._revision = 0
        self._compacted = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating with mode 0600 if needed) the database file; idempotent."""
        if self._conn is not None:
            return
        opened = sqlite_schema.connect(self.path)
        self._conn, self._revision, self._compacted = opened.conn, opened.revision, opened.compacted
        self._hub = WatchHub(self._watch_capacity)

    async def close(self) -> None:
        """End every watch and close the file (checkpointing the WAL); idempotent."""
        self._hub.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("BEGIN IMMEDIATE")
                sqlite_schema.save_revision(conn, self._revision)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _log.warning("%s: could not record the revision counter on close: %s", self.path, exc)
            try:
                conn.close()
            except sqlite3.Error as exc:
                raise self._io_error("close", exc) from exc

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise errors.StoreError(f"store database {self.path} is not open")
        return self._conn

    def _io_error(self, op: str, exc: sqlite3.Error) -> errors.StoreError:
        return errors.StoreError(f"store database {self.path}: {op} failed: {exc}")

    def _decode(self, text: str, key: str) -> _Obj:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise errors.StoreError(
                f"store database {self.path}: the value stored at {key!r} is not JSON (corrupt file?)"
            ) from exc
        if not isinstance(obj, dict):
            raise errors.StoreError(f"store database {self.path}: the value stored at {key!r} is not an object")
        return obj

    # -- writes ------------------------------------------------------------------------

    def _transact(self, op: str, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in one IMMEDIATE transaction; roll back on any error."""
        conn = self._require_conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        _log.exception("rollback failed on %s", self.path)
                raise
        except sqlite3.Error as exc:
            raise self._io_error(op, exc) from exc
        return result

    @staticmethod
    def _record(conn: sqlite3.Connection, change: Change) -> Change:
        """Append ``change`` to the event log (its revision is unique: the log's key)."""
        conn.execute(
            "INSERT INTO events (revision, key, type, value, prev_value) VALUES (?, ?, ?, ?, ?)",
            (change.revision, change.key, change.type, change.value, change.prev_value),
        )
        return change

    def _next_revision(self) -> int:
        # The counter advances in memory only after the commit (see _committed).
        return self._revision + 1

    def _committed(self, change: Change) -> None:
        """After a commit: advance, fan out, and keep the history bounded."""
        self._revision = change.revision
        self._hub.publish(change)
        if self.history and change.revision - self._compacted > self.history + max(1, self.history // 10):
            try:
                self._compact_to(change.revision - self.history)
            except errors.StoreError:  # the write itself is committed; retry next time
                _log.exception("automatic compaction of %s failed", self.path)

    async def create(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        def body(conn: sqlite3.Connection) -> Change:
            if conn.execute("SELECT 1 FROM objects WHERE key = ?", (key,)).fetchone() is not None:
                raise keyspace.already_exists(key)
            revision = self._next_revision()
            text = _encode(obj, revision)
            conn.execute(
                "INSERT INTO objects (key, value, mod_revision, create_revision) VALUES (?, ?, ?, ?)",
                (key, text, revision, revision),
            )
            return self._record(conn, Change("ADDED", key, text, None, revision))

        change = self._transact("create", body)
        self._committed(change)
        return self._decode(change.value, key)

    async def update(
        self, key: str, obj: dict[str, Any], *, expected_rv: str | None = None
    ) -> dict[str, Any]:
        """Replace the object at ``key`` (see :meth:`Store.update`); an empty
        ``expected_rv`` means no precondition, as in Kubernetes."""

        def body(conn: sqlite3.Connection) -> tuple[Change | None, str]:
            row = conn.execute("SELECT value, mod_revision FROM objects WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise keyspace.not_found(key)
            stored, mod_revision = str(row[0]), int(row[1])
            if expected_rv and expected_rv != str(mod_revision):
                raise keyspace.conflict(key)
            revision = self._next_revision()
            text = _encode(obj, revision)
            # The text it would have at the stored revision: one encode, the resourceVersion
            # swapped (the token is ours when it occurs once).
            new_token, old_token = f'"resourceVersion":"{revision}"', f'"resourceVersion":"{mod_revision}"'
            unchanged = text.replace(new_token, old_token) if text.count(new_token) == 1 else _encode(obj, mod_revision)
            if unchanged == stored:
                return None, stored
            # The same data with another key order is no change either (one decode: the
            # stored side; ``obj`` is compared as given, with the stored resourceVersion).
            meta = obj.get("metadata") or {}
            if {**obj, "metadata": {**meta, "resourceVersion": str(mod_revision)}} == self._decode(stored, key):
                return None, stored
            conn.execute(
                "UPDATE objects SET value = ?, mod_revision = ? WHERE key = ?", (text, revision, key)
            )
            return self._record(conn, Change("MODIFIED", key, text, stored, revision)), text

        change, text = self._transact("update", body)
        if change is not None:
            self._committed(change)
        return self._decode(text, key)

    async def delete(self, key: str, *, expected_rv: str | None = None) -> dict[str, Any]:
        def body(conn: sqlite3.Connection) -> Change:
            row = conn.execute("SELECT value, mod_revision FROM objects WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise keyspace.not_found(key)
            stored, mod_revision = str(row[0]), int(row[1])
            if expected_rv and expected_rv != str(mod_revision):
                raise keyspace.conflict(key)
            revision = self._next_revision()
            text = _encode(self._decode(stored, key), revision)
            conn.execute("DELETE FROM objects WHERE key = ?", (key,))
            return self._record(conn, Change("DELETED", key, text, stored, revision))

        change = self._transact("delete", body)
        self._committed(change)
        return self._decode(change.value, key)

    # -- reads -------------------------------------------------------------------------

    async def get(self, key: str) -> dict[str, Any]:
        conn = self._require_conn()
        try:
            row = conn.execute("SELECT value FROM objects WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._io_error("get", exc) from exc
        if row is None:
            raise keyspace.not_found(key)
        return self._decode(str(row[0]), key)

    async def list(
        self,
        prefix: str,
        *,
        label_selector: selectors.LabelSelector | None = None,
        field_selector: selectors.FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> base.ListResult:
        """Objects under ``prefix`` matching both selectors, in key order (see
        :meth:`Store.list` and the module doc on paging). With selectors and ``limit``, scans
        on until ``limit`` matching items are found; ``continue_token`` is set only when a
        further matching item exists. ``remaining`` counts the further items when paging
        without selectors, is 0 on a last page, and ``None`` otherwise."""
        conn = self._require_conn()
        revision = self._revision
        where, params = _range_sql("key", prefix)
        if continue_token:
            token = keyspace.decode_continue(continue_token, prefix)
            if token.revision < self._compacted:
                raise errors.Gone(keyspace.CONTINUE_TOO_OLD)
            revision = token.revision
            where, params = f"{where} AND key > ?", (*params, token.start)
        labels = label_selector if label_selector is not None and not label_selector.empty else None
        fields = field_selector if field_selector is not None and not field_selector.empty else None
        items: _Items = []
        last_key = ""
        more = False
        try:
            for key, value in conn.execute(f"SELECT key, value FROM objects WHERE {where} ORDER BY key", params):
                obj = self._decode(value, key)
                if (labels is not None and not labels.matches_object(obj)) or (
                    fields is not None and not fields.matches(obj)
                ):
                    continue
                if 0 < limit <= len(items):
                    more = True
                    break
                items.append(obj)
                last_key = key
            remaining: int | None = None
            if limit > 0 and not more:
                remaining = 0
            elif more and labels is None and fields is None:
                rest, rest_params = _range_sql("key", prefix)
                remaining = int(
                    conn.execute(
                        f"SELECT count(*) FROM objects WHERE {rest} AND key > ?", (*rest_params, last_key)
                    ).fetchone()[0]
                )
        except sqlite3.Error as exc:
            raise self._io_error("list", exc) from exc
        token_out = keyspace.encode_continue(revision, last_key) if more else ""
        return base.ListResult(items=items, revision=revision, continue_token=token_out, remaining=remaining)

    async def current_revision(self) -> int:
        self._require_conn()
        return self._revision

    # -- watch -------------------------------------------------------------------------

    def _history(self, prefix: str, after: int) -> _Changes:
        """Up to ``_REPLAY_CHUNK`` logged changes under ``prefix`` with revision > ``after``."""
        conn = self._require_conn()
        where, params = _range_sql("key", prefix)
        try:
            rows = conn.execute(
                "SELECT revision, key, type, value, prev_value FROM events"
                f" WHERE revision > ? AND {where} ORDER BY revision LIMIT ?",
                (after, *params, _REPLAY_CHUNK),
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._io_error("watch", exc) from exc
        return [Change(kind, key, value, prev, int(rev)) for rev, key, kind, value, prev in rows]

    def _too_old(self, since: int) -> errors.Gone:
        return errors.Gone(f"too old resource version: {since} ({self._compacted})")

    async def watch(self, prefix: str, since: int) -> AsyncIterator[base.WatchEvent]:
        """Changes under ``prefix`` after revision ``since``: the logged history, then live
        changes, in order, without gaps or duplicates (see :meth:`Store.watch`). ``since=0``
        replays all retained history. Ends when the store closes; ``Gone`` if ``since`` (or
        the replay position) is compacted away, or if the watcher lags ``watch_capacity``
        events behind."""
        changes = self.watch_changes(prefix, since)
        try:
            async for change in changes:
                yield change.to_event()
        finally:
            await changes.aclose()

    def watch_changes(self, prefix: str, since: int) -> ChangeFeed:
        """:meth:`watch` as the stored :class:`Change` records (JSON text, shared decoded
        objects) in a cancel-safe feed: for readers that do not mutate, such as the API
        server's watch streams. Close it with ``aclose()``."""
        self._require_conn()
        if since < self._compacted:
            raise self._too_old(since)
        # Subscribe before reading the log: a change committed meanwhile is in one or both,
        # and the feed's revision check drops the copies.
        sub = self._hub.subscribe(prefix)
        return ChangeFeed(self._hub, sub, since, history=lambda after: self._history(prefix, after),
                          compacted=lambda: self._compacted, too_old=self._too_old, chunk=_REPLAY_CHUNK)

    # -- compaction --------------------------------------------------------------------

    def _compact_to(self, revision: int) -> None:
        target = min(revision, self._revision)
        if target <= self._compacted:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM events WHERE revision <= ?", (target,))
            conn.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (target,))
            sqlite_schema.save_revision(conn, self._revision)  # the log may no longer hold it

        self._transact("compact", body)
        self._compacted = target

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision`` (capped at the current revision;
        compacting below the compacted revision does nothing)."""
        self._require_conn()
        self._compact_to(revision)

    async def compact_keep(self, keep: int | None = None) -> int:
        """Compact all but the newest ``keep`` revisions (default: ``history``); returns
        the compacted revision."""
        self._require_conn()
        self._compact_to(self._revision - max(0, self.history if keep is None else keep))
        return self._compacted

    async def compacted_revision(self) -> int:
        self._require_conn()
        return self._compacted
