"""The etcd store: a :class:`~gitkube.store.base.Store` on etcd 3.4+, for control planes that
outgrow one machine or share one state between several gitkube processes.

Semantics are those of Kubernetes' etcd3 storage layer:

- The revision is etcd's: an object's resourceVersion is its key's ``mod_revision`` less the
  store's ``base`` (the etcd revision at which the key prefix was first used, so a new store
  starts at 0; see :mod:`gitkube.store.etcd_codec`). Every gitkube process on the same etcd
  and prefix sees one revision sequence.
- ``create`` is a transaction "create revision == 0 then put"; ``update`` and ``delete`` read
  the key, check ``expected_rv``, then commit with "mod revision unchanged" (compare-and-swap),
  retrying with what the failed transaction read when another writer got in between. An update
  equal to the stored object (key order aside) writes nothing. When the connection dropped
  under a write (an etcd member died) it is sent again; if the guard then fails, what it read
  back tells whether the first copy was applied (the key holds exactly the bytes written, at a
  newer revision; for a delete, the key is gone) and that counts as success.
- ``list`` reads at one etcd revision: the first page at the newest, every later page at the
  revision in its continue token (``{"rv", "start"}``, as kube-apiserver's etcd3 store), so
  pages are a consistent snapshot; a token older than the compaction raises ``Gone``. Selectors
  are applied here after reading, as the SQLite store does.
- ``watch`` is an etcd watch (:mod:`gitkube.store.etcd_watch`): it sees other processes'
  writes and survives etcd restarts.
- ``compact(rev)`` records the compacted revision under the prefix (``Gone`` below it, for every
  process) and compacts etcd's history. With ``history`` > 0 the store also compacts itself once
  more than ``history`` plus a tenth revisions accumulated (``history=0`` leaves it to the API
  server's periodic compaction).

Every call has a deadline: etcd unreachable or gone is a ``StoreError`` naming the endpoints.
Created by :func:`gitkube.store.open_store` for ``etcd://`` URLs; used only by
``gitkube.apiserver``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aetcd import rpc

from gitkube import errors
from gitkube.api import selectors
from gitkube.store import base, keyspace
from gitkube.store.etcd_client import EtcdAddress, EtcdConnection, parse_url
from gitkube.store.etcd_codec import Codec, encode, marker_key
from gitkube.store.etcd_watch import follow, too_old

__all__ = ["EtcdStore"]

_log = logging.getLogger(__name__)
_Obj = dict[str, Any]
_CHUNK = 500
_MAX_ATTEMPTS = 100
_EQUAL = rpc.Compare.EQUAL
_MOD, _CREATE = rpc.Compare.MOD, rpc.Compare.CREATE


def _put(key: bytes, value: bytes) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))


def _get(key: bytes) -> Any:
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=key))


def _unchanged(key: bytes, mod_revision: int) -> Any:
    return rpc.Compare(key=key, result=_EQUAL, target=_MOD, mod_revision=mod_revision)


def _absent(key: bytes) -> Any:
    return rpc.Compare(key=key, result=_EQUAL, target=_CREATE, create_revision=0)


def _read_back(resp: Any) -> Any | None:
    """The key-value a failed transaction's ``failure`` range read, or None (key gone)."""
    kvs = resp.responses[0].response_range.kvs
    return kvs[0] if kvs else None


class EtcdStore(base.Store):
    """A :class:`~gitkube.store.base.Store` in etcd (see the module doc).

    ``url`` is ``etcd://HOST:PORT[,HOST:PORT...][/prefix]``; ``history`` is how many revisions
    at least stay watchable (0: never compact on its own); ``timeout`` bounds every call and
    ``dial_timeout`` how long :meth:`open` waits for etcd to answer.
    """

    def __init__(self, url: str | EtcdAddress, *, history: int = 10_000, timeout: float = 5.0,
                 dial_timeout: float = 5.0) -> None:
        if history < 0:
            raise errors.ConfigError(f"store history must be 0 or more revisions, not {history}")
        self.address = url if isinstance(url, EtcdAddress) else parse_url(url)
        self.history = history
        self.timeout = timeout
        self.dial_timeout = dial_timeout
        self._conn = EtcdConnection(self.address, timeout=timeout, dial_timeout=dial_timeout)
        self._codec: Codec | None = None
        self._compacted = 0
        self._compacting: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.address.url()

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect (waiting up to ``dial_timeout`` for etcd) and read or create the prefix's
        marker; idempotent. An unreachable etcd raises ``StoreError`` naming it."""
        if self._codec is not None:
            return
        self._conn = EtcdConnection(self.address, timeout=self.timeout, dial_timeout=self.dial_timeout)
        await self._conn.open()
        try:
            base_revision = await self._ensure_marker()
            self._codec = Codec(self.address.prefix, base_revision, self.address.display)
            self._compacted = await self._read_compacted()
        except BaseException:
            self._codec = None
            await self._conn.close()
            raise

    async def _ensure_marker(self) -> int:
        """The store's base revision: the create revision of its marker key, put now on first
        use (with base 0 instead when objects already exist under the prefix without one)."""
        key = marker_key(self.address.prefix)
        resp = await self._conn.txn("open", rpc.TxnRequest(
            compare=[_absent(key)], success=[_put(key, b"")], failure=[_get(key)]))
        if resp.succeeded:
            revision = int(resp.header.revision)
            start, end = Codec(self.address.prefix, revision, "").range("/registry/")
            existing = await self._conn.range("open", rpc.RangeRequest(
                key=start, range_end=end, count_only=True, max_create_revision=revision - 1))
            if existing.count:  # data written before the marker: keep etcd's own numbering
                await self._conn.txn("open", rpc.TxnRequest(
                    compare=[_unchanged(key, revision)], success=[_put(key, b"0")]))
                return 0
            return revision
        kv = _read_back(resp)
        if kv is None:
            raise errors.StoreError(f"etcd at {self.address.display}: the store marker vanished while opening")
        return int(kv.value) if kv.value else int(kv.create_revision)

    async def close(self) -> None:
        """End every watch and close the connection; idempotent."""
        task, self._compacting = self._compacting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._codec = None
        await self._conn.close()

    def _require(self) -> Codec:
        if self._codec is None:
            raise errors.StoreError(f"etcd store at {self.url} is not open")
        return self._codec

    # -- writes ------------------------------------------------------------------------

    async def create(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        codec = self._require()
        raw, value = codec.key(key), encode(obj)
        resp, maybe_applied = await self._conn.guarded_txn("create", rpc.TxnRequest(
            compare=[_absent(raw)], success=[_put(raw, value)], failure=[_get(raw)]))
        if not resp.succeeded:
            kv = _read_back(resp)
            if maybe_applied and kv is not None and kv.version == 1 and kv.value == value:
                return codec.decode(kv.value, kv.mod_revision, key)  # the first copy was applied
            raise keyspace.already_exists(key)
        self._written(int(resp.header.revision))
        return codec.decode(value, int(resp.header.revision), key)

    async def _current(self, key: str, raw: bytes, op: str) -> Any:
        resp = await self._conn.range(op, rpc.RangeRequest(key=raw))
        if not resp.kvs:
            raise keyspace.not_found(key)
        return resp.kvs[0]

    async def update(
        self, key: str, obj: dict[str, Any], *, expected_rv: str | None = None
    ) -> dict[str, Any]:
        """Replace the object at ``key`` (see :meth:`Store.update`); an empty
        ``expected_rv`` means no precondition, as in Kubernetes."""
        codec = self._require()
        raw, value = codec.key(key), encode(obj)
        kv = await self._current(key, raw, "update")
        for _ in range(_MAX_ATTEMPTS):
            if expected_rv and expected_rv != str(codec.revision(kv.mod_revision)):
                raise keyspace.conflict(key)
            if kv.value == value or json.loads(value) == json.loads(kv.value):
                return codec.decode(kv.value, kv.mod_revision, key)
            resp, maybe_applied = await self._conn.guarded_txn("update", rpc.TxnRequest(
                compare=[_unchanged(raw, kv.mod_revision)], success=[_put(raw, value)], failure=[_get(raw)]))
            if resp.succeeded:
                self._written(int(resp.header.revision))
                return codec.decode(value, int(resp.header.revision), key)
            before, kv = kv, _read_back(resp)
            if kv is None:
                raise keyspace.not_found(key)
            if maybe_applied and kv.value == value and kv.mod_revision > before.mod_revision:
                return codec.decode(kv.value, kv.mod_revision, key)  # the first copy was applied
        raise keyspace.conflict(key)

    async def delete(self, key: str, *, expected_rv: str | None = None) -> dict[str, Any]:
        codec = self._require()
        raw = codec.key(key)
        kv = await self._current(key, raw, "delete")
        for _ in range(_MAX_ATTEMPTS):
            if expected_rv and expected_rv != str(codec.revision(kv.mod_revision)):
                raise keyspace.conflict(key)
            resp, maybe_applied = await self._conn.guarded_txn("delete", rpc.TxnRequest(
                compare=[_unchanged(raw, kv.mod_revision)],
                success=[rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw))],
                failure=[_get(raw)]))
            if resp.succeeded:
                self._written(int(resp.header.revision))
                return codec.decode(kv.value, int(resp.header.revision), key)
            before, kv = kv, _read_back(resp)
            if kv is None:
                if maybe_applied:  # the first copy was applied (at a revision up to this one)
                    return codec.decode(before.value, int(resp.header.revision), key)
                raise keyspace.not_found(key)
        raise keyspace.conflict(key)

    # -- reads -------------------------------------------------------------------------

    async def get(self, key: str) -> dict[str, Any]:
        codec = self._require()
        kv = await self._current(key, codec.key(key), "get")
        return codec.decode(kv.value, kv.mod_revision, key)

    async def list(
        self,
        prefix: str,
        *,
        label_selector: selectors.LabelSelector | None = None,
        field_selector: selectors.FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> base.ListResult:
        """Objects under ``prefix`` matching both selectors, in key order, read at one etcd
        revision (see the module doc). With selectors and ``limit``, reads on until ``limit``
        matching items are found; ``continue_token`` is set only when a further matching item
        exists. ``remaining`` counts the further items when paging without selectors, is 0 on
        a last page, and ``None`` otherwise."""
        codec = self._require()
        start, end = codec.range(prefix)
        at = 0
        if continue_token:
            token = keyspace.decode_continue(continue_token, prefix)
            if token.revision < await self.compacted_revision():
                raise errors.Gone(keyspace.CONTINUE_TOO_OLD)
            start, at = codec.key(token.start) + b"\x00", codec.etcd_revision(token.revision)
        labels = label_selector if label_selector is not None and not label_selector.empty else None
        fields = field_selector if field_selector is not None and not field_selector.empty else None
        filtering = labels is not None or fields is not None
        items: list[_Obj] = []
        last_key, more, cursor = "", False, start
        while True:
            size = _CHUNK if filtering or limit <= 0 else max(1, min(_CHUNK, limit - len(items)))
            resp = await self._range_at(cursor, end, at, size, bool(continue_token))
            at = at or int(resp.header.revision)
            for kv in resp.kvs:
                key = codec.logical(kv.key)
                if codec.is_meta(key):
                    continue
                obj = codec.decode(kv.value, kv.mod_revision, key)
                if (labels is not None and not labels.matches_object(obj)) or (
                    fields is not None and not fields.matches(obj)
                ):
                    continue
                if 0 < limit <= len(items):
                    more = True
                    break
                items.append(obj)
                last_key = key
            if more or not resp.more or not resp.kvs:
                break
            cursor = resp.kvs[-1].key + b"\x00"
            if not filtering and 0 < limit <= len(items):
                more = True
                break
        remaining: int | None = None
        if limit > 0 and not more:
            remaining = 0
        elif more and not filtering:
            rest = await self._conn.range("list", rpc.RangeRequest(
                key=codec.key(last_key) + b"\x00", range_end=end, revision=at, count_only=True))
            remaining = int(rest.count)
        revision = codec.revision(at)
        token_out = keyspace.encode_continue(revision, last_key) if more else ""
        return base.ListResult(items=items, revision=revision, continue_token=token_out, remaining=remaining)

    async def _range_at(self, key: bytes, end: bytes, at: int, limit: int, continuing: bool) -> Any:
        try:
            return await self._conn.range("list", rpc.RangeRequest(key=key, range_end=end, revision=at, limit=limit))
        except errors.Gone as exc:
            if continuing:
                raise errors.Gone(keyspace.CONTINUE_TOO_OLD) from exc
            raise

    async def current_revision(self) -> int:
        codec = self._require()
        resp = await self._conn.range("current revision", rpc.RangeRequest(key=codec.marker_key, count_only=True))
        return codec.revision(int(resp.header.revision))

    # -- watch -------------------------------------------------------------------------

    async def watch(self, prefix: str, since: int) -> AsyncIterator[base.WatchEvent]:
        """Changes under ``prefix`` after revision ``since``, in order, without gaps or
        duplicates, across etcd restarts (see :mod:`gitkube.store.etcd_watch`). ``Gone`` if
        ``since`` is older than the compacted revision. Ends when the store closes."""
        codec = self._require()
        compacted = await self.compacted_revision()
        if since < compacted:
            raise too_old(since, compacted)
        events: AsyncGenerator[base.WatchEvent, None] = follow(self._conn, codec, prefix, since)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    # -- compaction --------------------------------------------------------------------

    async def _read_compacted(self) -> int:
        codec = self._require()
        resp = await self._conn.range("compacted revision", rpc.RangeRequest(key=codec.compacted_key))
        value = int(resp.kvs[0].value) if resp.kvs else 0
        self._compacted = max(self._compacted, value)
        return value

    async def compacted_revision(self) -> int:
        """The newest revision whose history was forgotten, by any process on this prefix."""
        return await self._read_compacted()

    async def compact(self, revision: int) -> None:
        """Forget history at and below ``revision`` (capped at the current revision;
        compacting below the compacted revision does nothing)."""
        codec = self._require()
        target = min(revision, await self.current_revision())
        key = codec.compacted_key
        for _ in range(_MAX_ATTEMPTS):
            resp = await self._conn.range("compact", rpc.RangeRequest(key=key))
            kv = resp.kvs[0] if resp.kvs else None
            if kv is not None and int(kv.value) >= target:
                self._compacted = max(self._compacted, int(kv.value))
                return
            if target <= 0:
                return
            guard = _unchanged(key, kv.mod_revision) if kv is not None else _absent(key)
            put = await self._conn.txn("compact", rpc.TxnRequest(compare=[guard], success=[_put(key, str(target).encode())]))
            if put.succeeded:
                break
        else:
            raise errors.StoreError(f"etcd at {self.address.display}: compaction kept racing other writers")
        self._compacted = target
        # etcd keeps revisions >= its compaction revision watchable: the first one after target
        await self._conn.compact(codec.etcd_revision(target + 1))

    async def compact_keep(self, keep: int | None = None) -> int:
        """Compact all but the newest ``keep`` revisions (default: ``history``); returns
        the compacted revision."""
        await self.compact(await self.current_revision() - max(0, self.history if keep is None else keep))
        return await self.compacted_revision()

    def _written(self, etcd_revision: int) -> None:
        """After a write: start a compaction in the background when the history grew past
        ``history`` plus a tenth."""
        if not self.history or (self._compacting is not None and not self._compacting.done()):
            return
        revision = self._require().revision(etcd_revision)
        if revision - self._compacted > self.history + max(1, self.history // 10):
            self._compacting = asyncio.get_running_loop().create_task(self._auto_compact(revision - self.history))

    async def _auto_compact(self, target: int) -> None:
        try:
            await self.compact(target)
        except errors.GitkubeError as exc:  # the write itself is committed; retry next time
            _log.warning("automatic compaction of %s failed: %s", self.url, exc)
