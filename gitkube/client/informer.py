"""Informer: a list+watch cache of one resource with change handlers (client-go's
SharedInformer, reduced to what gitkube's components need).

``run()`` lists, fills the cache, marks ``synced``, then watches from the list's
resourceVersion. A 410 Gone re-lists and reconciles the cache (emitting the adds, updates
and deletes the gap hid); a broken stream re-watches from the last seen revision, with
backoff. Handlers run synchronously in the informer task and must only enqueue keys.

Reads (``get``, ``list``, ``by_index``) never touch the network. Objects in the cache are
shared: callers deep-copy before mutating. ``list(namespace)`` reads a built-in per-namespace
index; ``add_indexer`` adds named indices (client-go's Indexers), e.g. pods by the uid of
their controller, so a controller's sync reads its own objects instead of scanning them all.
Used by controllers, the scheduler, the node agent and the proxy.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable
from typing import Any

from gitkube import errors
from gitkube.api import scheme, selectors
from gitkube.client.rest import Client

__all__ = ["Handler", "IndexFunc", "Informer", "key_of"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]


def key_of(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), the workqueue key."""
    m = obj.get("metadata") or {}
    ns = m.get("namespace")
    return f"{ns}/{m.get('name')}" if ns else str(m.get("name"))


class Handler:
    def __init__(self, on_add: Callable[[Obj], None] | None = None,
                 on_update: Callable[[Obj, Obj], None] | None = None,
                 on_delete: Callable[[Obj], None] | None = None) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete


class Informer:
    def __init__(self, client: Client, resource: scheme.ResourceInfo | str, *, namespace: str | None = None,
                 label_selector: str = "", field_selector: str = "") -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._cache: dict[str, Obj] = {}
        self._by_ns: dict[str | None, dict[str, Obj]] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, dict[str, Obj]]] = {}
        self._handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self.resource_version = ""

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)
        for obj in list(self._cache.values()):
            if handler.on_add:
                handler.on_add(obj)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Maintain the index ``name``: every cached object under each value ``func`` returns
        for it. Adding an existing name again keeps the first function."""
        if name in self._indexers:
            return
        self._indexers[name] = func
        index: dict[str, dict[str, Obj]] = {}
        self._indices[name] = index
        for key, obj in self._cache.items():
            for value in func(obj):
                index.setdefault(value, {})[key] = obj

    # -- cache maintenance ----------------------------------------------------------------

    def _put(self, key: str, obj: Obj) -> Obj | None:
        old = self._drop(key)
        self._cache[key] = obj
        self._by_ns.setdefault((obj.get("metadata") or {}).get("namespace"), {})[key] = obj
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                index.setdefault(value, {})[key] = obj
        return old

    def _drop(self, key: str) -> Obj | None:
        old = self._cache.pop(key, None)
        if old is None:
            return None
        ns = (old.get("metadata") or {}).get("namespace")
        bucket = self._by_ns.get(ns)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._by_ns[ns]
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(old):
                entries = index.get(value)
                if entries is not None:
                    entries.pop(key, None)
                    if not entries:
                        del index[value]
        return old

    # -- reads --------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def get_key(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def list(self, namespace: str | None = None, selector: selectors.LabelSelector | None = None) -> list[Obj]:
        if namespace is None:
            objs = self._cache.values()
        else:
            bucket = self._by_ns.get(namespace)
            if bucket is None:
                return []
            objs = bucket.values()
        if selector is None:
            return list(objs)
        return [obj for obj in objs if selector.matches_object(obj)]

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """The cached objects the indexer ``name`` files under ``value`` (see ``add_indexer``)."""
        try:
            entries = self._indices[name].get(value)
        except KeyError:
            raise KeyError(f"informer {self.resource}: no indexer named {name!r}") from None
        return list(entries.values()) if entries else []

    def __len__(self) -> int:
        return len(self._cache)

    # -- loop ---------------------------------------------------------------------------

    def _emit_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add:
                h.on_add(obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update:
                h.on_update(old, new)

    def _emit_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete:
                h.on_delete(obj)

    async def _relist(self) -> None:
        body = await self.client.list(self.resource, self.namespace, label_selector=self.label_selector,
                                      field_selector=self.field_selector)
        fresh = {key_of(o): o for o in body.get("items") or []}
        for key, old in list(self._cache.items()):
            if key not in fresh:
                self._drop(key)
                self._emit_delete(old)
        for key, obj in fresh.items():
            previous = self._put(key, obj)
            if previous is None:
                self._emit_add(obj)
            elif previous["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit_update(previous, obj)
        self.resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _apply(self, event_type: str, obj: Obj) -> None:
        key = key_of(obj)
        if event_type == "DELETED":
            old = self._drop(key)
            self._emit_delete(old or obj)
            return
        old = self._put(key, obj)
        if old is None:
            self._emit_add(obj)
        else:
            self._emit_update(old, obj)

    async def run(self) -> None:
        """List and watch until cancelled."""
        delay = 0.05
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self.synced.set()
                async for event in self.client.watch(self.resource, self.namespace, resource_version=self.resource_version,
                                                     label_selector=self.label_selector,
                                                     field_selector=self.field_selector, timeout_seconds=300):
                    rv = (event.object.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = str(rv)
                    if event.type != "BOOKMARK":
                        self._apply(event.type, event.object)
                    delay = 0.05
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                need_list = True
            except Exception as exc:  # the API server restarting, a broken stream: retry
                log.info("informer %s: %s; retrying in %.2fs", self.resource, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
