"""Recording core/v1 Events, as client-go's EventRecorder and EventCorrelator do.

``record(obj, type, reason, message)`` returns at once; the write happens in the
background. Before anything is written, each event goes through client-go's correlator:

- aggregation: events about one object with the same type and reason but different messages
  are counted; from the 10th distinct message within 10 minutes on they become one Event whose
  message is ``(combined from similar events): <latest message>`` (a ReplicaSet creating 1,000
  pods writes a handful of Events, not 1,000);
- deduplication: a repeat of the same event (or of the combined one) within 10 minutes bumps
  ``count`` and ``lastTimestamp`` of the existing Event instead of creating another, so
  ``kubectl describe`` shows ``(x5 over 3m)``;
- spam filter: a token bucket per involved object (burst 25, one token back every 5 minutes)
  drops what is left over, creates and count bumps alike.

A failed write is logged, never raised: events are best-effort and must not stall a
controller. Used by controllers, scheduler, agent, proxies and the GitOps engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client.rest import Client

__all__ = ["COMBINED_PREFIX", "EventRecorder", "SpamFilter"]

log = logging.getLogger(__name__)

COMBINED_PREFIX = "(combined from similar events): "
_AGGREGATE_WINDOW = 600.0  # seconds: dedup and aggregation memory (client-go's maxIntervalInSeconds)
_AGGREGATE_MAX = 10  # distinct messages of one (object, type, reason) before they are combined
_SPAM_BURST = 25
_SPAM_REFILL = 300.0  # seconds per token: client-go's qps of 1/300
_CACHE_SIZE = 4096

_ObjectKey = tuple[str, str, str, str]  # kind, namespace, name, uid
_EventKey = tuple[str, ...]


class SpamFilter:
    """client-go's EventSourceObjectSpamFilter: a token bucket per key (``burst`` tokens, one
    more every ``refill_seconds``), the ``size`` most recently used keys remembered."""

    def __init__(self, burst: int = _SPAM_BURST, refill_seconds: float = _SPAM_REFILL, *,
                 clock: Callable[[], float] = time.monotonic, size: int = _CACHE_SIZE) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._clock = clock
        self._size = size
        self._buckets: OrderedDict[_ObjectKey, tuple[float, float]] = OrderedDict()  # key -> tokens, at

    def allow(self, key: _ObjectKey) -> bool:
        """Take a token of ``key``'s bucket; False when it is empty (the event is dropped)."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        if self.refill_seconds > 0:
            tokens = min(float(self.burst), tokens + (now - at) / self.refill_seconds)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._size:
            self._buckets.popitem(last=False)
        return allowed


class _Aggregator:
    """client-go's EventAggregator: distinct messages per (object, type, reason)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._records: OrderedDict[_EventKey, tuple[set[str], float]] = OrderedDict()

    def combine(self, key: _EventKey, message: str) -> bool:
        """Note ``message`` under ``key``; True once the event is to be combined."""
        now = self._clock()
        messages, at = self._records.get(key, (set(), now))
        if now - at > _AGGREGATE_WINDOW:
            messages = set()
        messages.add(message)
        combined = len(messages) >= _AGGREGATE_MAX
        if combined:
            messages.discard(message)  # do not grow the set past the threshold
        self._records[key] = (messages, now)
        self._records.move_to_end(key)
        if len(self._records) > _CACHE_SIZE:
            self._records.popitem(last=False)
        return combined


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "", *, spam_filter: SpamFilter | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._clock = clock
        self._spam = spam_filter if spam_filter is not None else SpamFilter(clock=clock)
        self._aggregator = _Aggregator(clock)
        # event key -> (event name, namespace, count, last written at)
        self._seen: OrderedDict[_EventKey, tuple[str, str, int, float]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        # One lock per event key: repeats bump the count in order, while events about
        # different things are written concurrently.
        self._locks: dict[_EventKey, tuple[asyncio.Lock, int]] = {}
        self.dropped = 0  # events the spam filter dropped

    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        m = obj.get("metadata") or {}
        subject: _ObjectKey = (str(obj.get("kind", "")), str(m.get("namespace", "")), str(m.get("name", "")),
                               str(m.get("uid", "")))
        if self._aggregator.combine((*subject, event_type, reason), message):
            key: _EventKey = (*subject, event_type, reason)
            message = COMBINED_PREFIX + message
        else:
            key = (*subject, event_type, reason, message)
        if not self._spam.allow(subject):
            self.dropped += 1
            log.debug("event %s/%s for %s dropped by the spam filter", reason, event_type, m.get("name"))
            return
        task = asyncio.create_task(self._write(key, obj, event_type, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for the writes in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _write(self, key: _EventKey, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._write_locked(key, obj, event_type, reason, message)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _write_locked(self, key: _EventKey, obj: dict[str, Any], event_type: str, reason: str,
                            message: str) -> None:
        m = obj.get("metadata") or {}
        now = meta.now()
        try:
            cached = self._seen.get(key)
            if cached is not None and self._clock() - cached[3] < _AGGREGATE_WINDOW:
                name, ns, count, _ = cached
                patch: dict[str, Any] = {"count": count + 1, "lastTimestamp": now}
                if len(key) == 6:  # a combined event shows the latest message
                    patch["message"] = message
                await self.client.patch("events", name, patch, ns)
                self._seen[key] = (name, ns, count + 1, self._clock())
                self._seen.move_to_end(key)
                return
            namespace = m.get("namespace") or "default"
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
            self._seen[key] = (name, namespace, 1, self._clock())
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
        except errors.APIError as exc:
            self._seen.pop(key, None)
            log.info("event %s/%s for %s not recorded: %s", reason, event_type, m.get("name"), exc)
