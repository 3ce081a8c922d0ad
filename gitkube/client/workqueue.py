"""A rate-limited work queue of keys, as client-go's ``workqueue`` is.

- A key is queued at most once (dirty set); a key being processed is never handed to a
  second worker, and if it is added meanwhile it comes back once the first ``done``.
- ``add_rate_limited`` re-queues with per-key exponential backoff (``base`` doubling up to
  ``cap``); ``forget`` resets it after a success; ``add_after`` delays a key.
- ``run_workers`` drives N workers calling ``sync(key)``: an exception re-queues the key
  with backoff up to ``max_retries``, then drops it with a log line.
- ``instrument(metrics)`` reports depth, adds, retries, time queued and time worked, as
  client-go's ``MetricsProvider`` does (``gitkube.observability.metrics.QueueMetrics``).

Used by every controller, the scheduler and the node agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["QueueMetrics", "WorkQueue", "run_workers"]

K = TypeVar("K")
log = logging.getLogger(__name__)


class QueueMetrics(Protocol):
    def added(self) -> None: ...
    def retried(self) -> None: ...
    def depth(self, n: int) -> None: ...
    def waited(self, seconds: float) -> None: ...
    def worked(self, seconds: float) -> None: ...


class WorkQueue(Generic[K]):
    def __init__(self, *, base: float = 0.005, cap: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._shutdown = False
        self._metrics: QueueMetrics | None = None
        self._added_at: dict[K, float] = {}
        self._started_at: dict[K, float] = {}

    def instrument(self, metrics: QueueMetrics) -> None:
        """Report this queue's activity to ``metrics`` from now on."""
        self._metrics = metrics
        metrics.depth(len(self._dirty))

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if self._metrics is not None:
            self._metrics.added()
            self._metrics.depth(len(self._dirty))
            self._added_at.setdefault(key, time.monotonic())
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + delay
        if existing is not None and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_at(when, fire)

    def retries(self, key: K) -> int:
        return self._failures.get(key, 0)

    def add_rate_limited(self, key: K) -> None:
        count = self._failures.get(key, 0)
        self._failures[key] = count + 1
        if self._metrics is not None:
            self._metrics.retried()
        self.add_after(key, min(self.base * (2**count), self.cap))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    async def get(self) -> K:
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        if self._metrics is not None:
            now = time.monotonic()
            self._metrics.depth(len(self._dirty))
            self._metrics.waited(now - self._added_at.pop(key, now))
            self._started_at[key] = now
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if self._metrics is not None:
            now = time.monotonic()
            self._metrics.worked(now - self._started_at.pop(key, now))
        if key in self._dirty:
            self._queue.put_nowait(key)

    def shutdown(self) -> None:
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


async def run_workers(queue: WorkQueue[K], sync: Callable[[K], Awaitable[None]], *, workers: int = 1,
                      max_retries: int = 15, name: str = "worker") -> None:
    """Process keys until cancelled; ``sync`` errors are retried with backoff."""

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                await sync(key)
                queue.forget(key)
            except asyncio.CancelledError:
                queue.done(key)
                raise
            except Exception as exc:
                if queue.retries(key) < max_retries:
                    log.info("%s: %s: %s (retrying)", name, key, exc)
                    queue.add_rate_limited(key)
                else:
                    log.warning("%s: dropping %s after %d retries: %s", name, key, max_retries, exc)
                    queue.forget(key)
            finally:
                queue.done(key)

    tasks = [asyncio.create_task(worker(), name=f"{name}-{i}") for i in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
