"""Recording core/v1 Events, as client-go's EventRecorder does.

``record(obj, type, reason, message)`` returns at once; the write happens in the
background. Repeats of the same (object, type, reason, message) within 10 minutes bump
``count`` and ``lastTimestamp`` of one Event instead of creating another, so ``kubectl
describe`` shows ``(x5 over 3m)``. A failed write is logged, never raised: events are
best-effort and must not stall a controller. Used by controllers, scheduler and agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client.rest import Client

__all__ = ["EventRecorder"]

log = logging.getLogger(__name__)

_AGGREGATE_WINDOW = 600.0
_CACHE_SIZE = 4096


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        # One lock per (object, type, reason, message): repeats aggregate in order, while
        # events about different things are written concurrently.
        self._locks: dict[tuple[str, str, str, str], tuple[asyncio.Lock, int]] = {}

    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        task = asyncio.create_task(self._write(obj, event_type, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for the writes in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _write(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        m = obj.get("metadata") or {}
        namespace = m.get("namespace") or "default"
        key = (str(m.get("uid", "")), event_type, reason, message)
        now = meta.now()
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            await self._write_locked(lock, key, obj, m, namespace, event_type, reason, message, now)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _write_locked(self, lock: asyncio.Lock, key: tuple[str, str, str, str], obj: dict[str, Any],
                            m: dict[str, Any], namespace: str, event_type: str, reason: str, message: str,
                            now: str) -> None:
        async with lock:
            try:
                cached = self._seen.get(key)
                if cached is not None and time.monotonic() - cached[3] < _AGGREGATE_WINDOW:
                    name, ns, count, _ = cached
                    await self.client.patch("events", name, {"count": count + 1, "lastTimestamp": now}, ns)
                    self._seen[key] = (name, ns, count + 1, time.monotonic())
                    self._seen.move_to_end(key)
                    return
                name = f"{m.get('name', 'unknown')}.{uuid.uuid4().hex[:16]}"
                event = {
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                                       "name": m.get("name", ""), "namespace": m.get("namespace", ""),
                                       "uid": m.get("uid", ""), "resourceVersion": m.get("resourceVersion", "")},
                    "reason": reason, "message": message, "type": event_type, "count": 1,
                    "firstTimestamp": now, "lastTimestamp": now,
                    "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                    "reportingComponent": self.component, "reportingInstance": self.host,
                }
                await self.client.create("events", event, namespace)
                self._seen[key] = (name, namespace, 1, time.monotonic())
                while len(self._seen) > _CACHE_SIZE:
                    self._seen.popitem(last=False)
            except errors.APIError as exc:
                self._seen.pop(key, None)
                log.info("event %s/%s for %s not recorded: %s", reason, event_type, m.get("name"), exc)
