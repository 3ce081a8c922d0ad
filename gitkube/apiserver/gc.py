"""Garbage collection by ownerReferences, and namespace finalization.

The collector keeps an index of every stored object (uid → key, owner uid → dependents)
from one list and a watch on ``/registry/``, and acts as Kubernetes' garbage collector
and namespace controller do:

- a dependent whose owners are all gone is deleted (Background, so its own dependents
  follow); one that still has a live owner only loses the dangling reference;
- an owner marked for deletion with the ``foregroundDeletion`` finalizer has its
  dependents deleted (Foreground) and loses the finalizer once none is left;
- an owner with the ``orphan`` finalizer has its reference removed from every dependent,
  then loses the finalizer;
- a namespace marked for deletion is emptied (every namespaced resource, Background), then
  its ``kubernetes`` finalizer is removed and it disappears.

Work is level-triggered: events only enqueue keys, a worker re-reads state and takes one
step, and a key whose step fails is retried with backoff. All writes go through the
registry, so they are validated and watched like any client's. Started by ``server``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gitkube import errors
from gitkube.api import scheme
from gitkube.apiserver import deletion
from gitkube.apiserver import registry as reg
from gitkube.store import base as store_base

__all__ = ["GarbageCollector"]

log = logging.getLogger(__name__)

_NS_INFO = scheme.by_plural("", "namespaces")


def _parse_key(key: str) -> tuple[scheme.ResourceInfo, str | None, str] | None:
    parts = key.split("/")  # "", "registry", group, plural, [ns], name
    if len(parts) < 5 or parts[1] != "registry":
        return None
    group = "" if parts[2] == "core" else parts[2]
    info = scheme.by_plural(group, parts[3])
    if info is None:
        return None
    if info.namespaced and len(parts) == 6:
        return info, parts[4], parts[5]
    if not info.namespaced and len(parts) == 5:
        return info, None, parts[4]
    return None


class GarbageCollector:
    def __init__(self, registry: reg.Registry, store: store_base.Store) -> None:
        self.registry = registry
        self.store = store
        self._objects: dict[str, dict[str, Any]] = {}  # key -> object
        self._uid_key: dict[str, str] = {}
        self._dependents: dict[str, set[str]] = {}  # owner uid -> dependent keys
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self.synced = asyncio.Event()

    # -- index --------------------------------------------------------------------------

    def _index(self, key: str, obj: dict[str, Any] | None) -> None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._uid_key.pop(old["metadata"].get("uid", ""), None)
            for ref in old["metadata"].get("ownerReferences") or []:
                self._dependents.get(ref.get("uid", ""), set()).discard(key)
        if obj is None:
            return
        self._objects[key] = obj
        m = obj["metadata"]
        self._uid_key[m.get("uid", "")] = key
        for ref in m.get("ownerReferences") or []:
            self._dependents.setdefault(ref.get("uid", ""), set()).add(key)

    def _enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _react(self, key: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Enqueue whatever a change may have made actionable. ``old`` is the indexed object
        before the change (None when it is new); a write that touches neither ownership nor
        deletion state (a status update) enqueues nothing."""
        subject = obj or old
        if subject is None:
            return
        sm = subject["metadata"]
        om = old["metadata"] if old is not None else None
        nm = obj["metadata"] if obj is not None else None
        deletion_changed = (
            om is None or nm is None
            or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
            or om.get("finalizers") != nm.get("finalizers")
        )
        refs_changed = om is None or nm is None or om.get("ownerReferences") != nm.get("ownerReferences")
        if nm is not None and (deletion_changed or refs_changed or nm.get("deletionTimestamp")):
            self._enqueue(key)
        if deletion_changed:
            # an owner appeared, went, or changed its deletion state: its dependents re-check
            for dep in list(self._dependents.get(sm.get("uid", ""), ())):
                self._enqueue(dep)
        owner_refs = list(sm.get("ownerReferences") or [])
        if om is not None and nm is not None and refs_changed:
            owner_refs += om.get("ownerReferences") or []
        for ref in owner_refs:
            owner_key = self._uid_key.get(ref.get("uid", ""))
            if owner_key and self._terminating(owner_key):
                # an owner waiting in foreground deletion re-checks its dependents
                self._enqueue(owner_key)
        parsed = _parse_key(key)
        if parsed is None or parsed[1] is None:
            return
        assert _NS_INFO is not None
        ns_key = scheme.storage_key(_NS_INFO, None, parsed[1])
        if self._terminating(ns_key):  # a namespace waiting to finish re-checks what is left
            self._enqueue(ns_key)

    def _terminating(self, key: str) -> bool:
        indexed = self._objects.get(key)
        return indexed is not None and bool(indexed["metadata"].get("deletionTimestamp"))

    # -- loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Index everything, then follow the store; runs until cancelled."""
        while True:
            try:
                listed = await self.store.list("/registry/")
                self._objects.clear()
                self._uid_key.clear()
                self._dependents.clear()
                for obj in listed.items:
                    key = self._key_of(obj)
                    if key:
                        self._index(key, obj)
                for key in list(self._objects):
                    self._enqueue(key)
                self.synced.set()
                worker = asyncio.create_task(self._work())
                try:
                    await self._follow(listed.revision)
                finally:
                    worker.cancel()
                return
            except errors.Gone:
                log.info("garbage collector watch expired; re-listing")
                continue

    async def _follow(self, since: int) -> None:
        """Index and react to every change after ``since``. On a store with a shared change
        feed (``watch_changes``) the objects are the feed's shared decodes, which the
        collector only reads: no private copy per change, and no previous object decoded."""
        watch_changes = getattr(self.store, "watch_changes", None)
        if watch_changes is None:
            async for event in self.store.watch("/registry/", since):
                self._apply(event.type, event.key, event.object)
            return
        feed = watch_changes("/registry/", since)
        try:
            async for change in feed:
                self._apply(change.type, change.key, change.object)
        finally:
            await feed.aclose()

    def _apply(self, event_type: str, key: str, obj: dict[str, Any]) -> None:
        old = self._objects.get(key)
        if event_type == "DELETED":
            self._index(key, None)
            self._react(key, None, old if old is not None else obj)
        else:
            self._index(key, obj)
            self._react(key, obj, old)

    @staticmethod
    def _key_of(obj: dict[str, Any]) -> str | None:
        info = scheme.by_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if info is None:
            return None
        m = obj["metadata"]
        return scheme.storage_key(info, m.get("namespace"), m["name"])

    async def _work(self) -> None:
        failures: dict[str, int] = {}
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                await self._sync(key)
                failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except errors.NotFound:
                failures.pop(key, None)
            except Exception as exc:  # retried with backoff: one bad object must not stop GC
                count = failures.get(key, 0) + 1
                failures[key] = count
                delay = min(0.05 * 2**count, 30.0)
                log.warning("garbage collector: %s: %s (retry in %.2fs)", key, exc, delay)
                asyncio.get_running_loop().call_later(delay, self._enqueue, key)

    async def _sync(self, key: str) -> None:
        obj = self._objects.get(key)
        parsed = _parse_key(key)
        if obj is None or parsed is None:
            return
        info, namespace, name = parsed
        m = obj["metadata"]
        refs = m.get("ownerReferences") or []
        if refs:
            await self._sync_dependent(info, namespace, name, obj, refs)
        if m.get("deletionTimestamp"):
            finalizers = m.get("finalizers") or []
            if deletion.ORPHAN in finalizers:
                await self._orphan(info, namespace, name, obj)
            elif deletion.FOREGROUND in finalizers:
                await self._foreground(info, namespace, name, obj)
            if info is _NS_INFO:
                await self._finalize_namespace(name, obj)

    async def _sync_dependent(
        self, info: scheme.ResourceInfo, namespace: str | None, name: str, obj: dict[str, Any], refs: list[dict[str, Any]]
    ) -> None:
        dangling = [r for r in refs if r.get("uid") not in self._uid_key]
        if not dangling:
            return
        if len(dangling) == len(refs):
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                return
            # No propagation given: the dependent's own orphan/foreground finalizers decide.
            await deletion.delete(self.registry, info, namespace, name, deletion.DeleteOptions({}))
            return
        gone = {r.get("uid") for r in dangling}

        def strip(live: dict[str, Any]) -> dict[str, Any]:
            live["metadata"]["ownerReferences"] = [
                r for r in live["metadata"].get("ownerReferences") or [] if r.get("uid") not in gone
            ]
            return live

        await self.registry.mutate(info, namespace, name, strip, reg.WriteOptions(field_manager="generic-garbage-collector"))

    async def _remove_finalizer(self, info: scheme.ResourceInfo, namespace: str | None, name: str, finalizer: str) -> None:
        def drop(live: dict[str, Any]) -> dict[str, Any]:
            live["metadata"]["finalizers"] = [f for f in live["metadata"].get("finalizers") or [] if f != finalizer]
            if not live["metadata"]["finalizers"]:
                del live["metadata"]["finalizers"]
            return live

        await self.registry.mutate(info, namespace, name, drop, reg.WriteOptions(field_manager="generic-garbage-collector"))

    async def _orphan(self, info: scheme.ResourceInfo, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        uid = obj["metadata"].get("uid")
        for dep_key in list(self._dependents.get(uid or "", ())):
            parsed = _parse_key(dep_key)
            if parsed is None:
                continue

            def strip(live: dict[str, Any]) -> dict[str, Any]:
                live["metadata"]["ownerReferences"] = [
                    r for r in live["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                ]
                if not live["metadata"]["ownerReferences"]:
                    del live["metadata"]["ownerReferences"]
                return live

            try:
                await self.registry.mutate(*parsed, strip, reg.WriteOptions(field_manager="generic-garbage-collector"))
            except errors.NotFound:
                pass
        await self._remove_finalizer(info, namespace, name, deletion.ORPHAN)

    async def _foreground(self, info: scheme.ResourceInfo, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        uid = obj["metadata"].get("uid") or ""
        remaining = [k for k in self._dependents.get(uid, ()) if k in self._objects]
        for dep_key in remaining:
            dep = self._objects[dep_key]
            if dep["metadata"].get("deletionTimestamp"):
                continue
            parsed = _parse_key(dep_key)
            if parsed is None:
                continue
            try:
                await deletion.delete(self.registry, *parsed, deletion.DeleteOptions({"propagationPolicy": "Foreground"}))
            except errors.NotFound:
                pass
        if not remaining:
            await self._remove_finalizer(info, namespace, name, deletion.FOREGROUND)

    async def _finalize_namespace(self, name: str, obj: dict[str, Any]) -> None:
        assert _NS_INFO is not None
        if deletion.FOREGROUND in (obj["metadata"].get("finalizers") or []) or deletion.ORPHAN in (
            obj["metadata"].get("finalizers") or []
        ):
            return
        left = 0
        for info in scheme.ALL_RESOURCES:
            if not info.namespaced:
                continue
            listed = await self.store.list(scheme.storage_prefix(info, name))
            for item in listed.items:
                left += 1
                if item["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    await deletion.delete(
                        self.registry, info, name, item["metadata"]["name"],
                        deletion.DeleteOptions({"propagationPolicy": "Background"}),
                    )
                except errors.NotFound:
                    pass
        if left:
            return
        spec_finalizers = (obj.get("spec") or {}).get("finalizers") or []
        if spec_finalizers:
            key = scheme.storage_key(_NS_INFO, None, name)
            live = await self.store.get(key)
            live.setdefault("spec", {})["finalizers"] = []
            del live["spec"]["finalizers"]
            if not live["metadata"].get("finalizers"):
                await self.store.delete(key, expected_rv=live["metadata"]["resourceVersion"])
            else:
                await self.store.update(key, live, expected_rv=live["metadata"]["resourceVersion"])
