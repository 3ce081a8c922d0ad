"""Informer: a list+watch cache of one resource with change handlers (client-go's
SharedInformer, reduced to what gitkube's components need).

``run()`` lists, fills the cache, marks ``synced``, then watches from the list's
resourceVersion. A 410 Gone re-lists and reconciles the cache (emitting the adds, updates
and deletes the gap hid); a broken stream re-watches from the last seen revision, with
backoff. Handlers run synchronously in the informer task and must only enqueue keys.

Reads (``get``, ``list``) never touch the network. Objects in the cache are shared: callers
deep-copy before mutating. Used by controllers, the scheduler, the node agent and the proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gitkube import errors
from gitkube.api import scheme, selectors
from gitkube.client.rest import Client

__all__ = ["Handler", "Informer", "key_of"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


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
        self._handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self.resource_version = ""

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)
        for obj in list(self._cache.values()):
            if handler.on_add:
                handler.on_add(obj)

    # -- reads --------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Obj | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def get_key(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def list(self, namespace: str | None = None, selector: selectors.LabelSelector | None = None) -> list[Obj]:
        out = []
        for obj in self._cache.values():
            if namespace is not None and (obj.get("metadata") or {}).get("namespace") != namespace:
                continue
            if selector is not None and not selector.matches_object(obj):
                continue
            out.append(obj)
        return out

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
                del self._cache[key]
                self._emit_delete(old)
        for key, obj in fresh.items():
            previous = self._cache.get(key)
            self._cache[key] = obj
            if previous is None:
                self._emit_add(obj)
            elif previous["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit_update(previous, obj)
        self.resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _apply(self, event_type: str, obj: Obj) -> None:
        key = key_of(obj)
        if event_type == "DELETED":
            old = self._cache.pop(key, None)
            self._emit_delete(old or obj)
            return
        old = self._cache.get(key)
        self._cache[key] = obj
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
