"""The scheduling queue: pending pods waiting for a cycle, as kube-scheduler's
``PriorityQueue`` with its active, backoff and unschedulable parts.

- ``add`` puts a new pending pod in the active heap (higher ``spec.priority`` first, then
  first come); ``pop`` waits for the next one and returns it with the move counter at the
  time, so a failure can tell whether the cluster changed during the cycle.
- ``unschedulable(key, cycle)``: the cycle found no node. The pod waits in the
  unschedulable set and comes back after its backoff (``base`` doubling per attempt up to
  ``cap``), or at once on ``move_all`` (a node added or changed, a pod deleted or finished)
  and right away if such an event happened while it was being scheduled.
- ``backoff(key)``: an error (a failed binding): retry after the backoff.
- ``update`` notices a pod whose spec or labels changed and retries it at once; ``delete``
  forgets a pod; ``done`` ends a successful attempt.

Keys are ``namespace/name``; the scheduler reads the pod from its informer on ``pop``.
Single-threaded (asyncio). Used by :class:`gitkube.scheduler.scheduler.Scheduler`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any

__all__ = ["SchedulingQueue", "pod_changed"]

Obj = dict[str, Any]


def pod_changed(old: Obj, new: Obj) -> bool:
    """Did something that can change a scheduling decision change (not status, not
    resourceVersion or managedFields)?"""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (old.get("spec") != new.get("spec") or om.get("labels") != nm.get("labels")
            or om.get("annotations") != nm.get("annotations"))


class SchedulingQueue:
    def __init__(self, *, backoff_base: float = 1.0, backoff_cap: float = 10.0) -> None:
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._active: dict[str, int] = {}  # key -> heap sequence of its live entry
        self._priority: dict[str, int] = {}
        self._unschedulable: set[str] = set()
        self._waiting: dict[str, asyncio.TimerHandle] = {}  # backing off
        self._attempts: dict[str, int] = {}
        self._known: set[str] = set()
        self._moves = 0
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._known)

    @property
    def moves(self) -> int:
        return self._moves

    def _activate(self, key: str) -> None:
        self._unschedulable.discard(key)
        timer = self._waiting.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._active:
            return
        seq = next(self._seq)
        self._active[key] = seq
        heapq.heappush(self._heap, (-self._priority.get(key, 0), seq, key))
        self._wakeup.set()

    def add(self, key: str, priority: int = 0) -> None:
        """A pending pod appeared (or changed while not queued)."""
        self._priority[key] = priority
        if key in self._known and (key in self._unschedulable or key in self._waiting or key in self._active):
            return
        self._known.add(key)
        self._activate(key)

    def update(self, key: str, old: Obj, new: Obj, priority: int = 0) -> None:
        if key not in self._known:
            self.add(key, priority)
            return
        self._priority[key] = priority
        if (key in self._unschedulable or key in self._waiting) and pod_changed(old, new):
            self._activate(key)

    def delete(self, key: str) -> None:
        self._known.discard(key)
        self._active.pop(key, None)
        self._unschedulable.discard(key)
        self._attempts.pop(key, None)
        self._priority.pop(key, None)
        timer = self._waiting.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def pop(self) -> tuple[str, int]:
        """The next pod to schedule and the move counter now."""
        while True:
            while self._heap:
                _, seq, key = heapq.heappop(self._heap)
                if self._active.get(key) == seq:
                    del self._active[key]
                    return key, self._moves
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """The pod was assumed on a node: stop tracking it."""
        self.delete(key)

    def backoff_for(self, key: str) -> float:
        attempts = self._attempts.get(key, 1)
        return float(min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1))))

    def _retry_later(self, key: str) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        delay = self.backoff_for(key)
        loop = asyncio.get_running_loop()
        timer = self._waiting.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._waiting[key] = loop.call_later(delay, self._backoff_expired, key)

    def _backoff_expired(self, key: str) -> None:
        self._waiting.pop(key, None)
        if key in self._known:
            self._activate(key)

    def unschedulable(self, key: str, cycle: int) -> None:
        """No node fit in the cycle that started at move counter ``cycle``."""
        if key not in self._known:
            return
        if self._moves > cycle:  # the cluster changed meanwhile: try again now
            self._attempts[key] = self._attempts.get(key, 0) + 1
            self._activate(key)
            return
        self._unschedulable.add(key)
        self._retry_later(key)

    def backoff(self, key: str) -> None:
        """An error in the cycle or the binding: retry after the backoff."""
        self._known.add(key)
        self._retry_later(key)

    def move_all(self) -> None:
        """A cluster event that may make unschedulable pods fit: retry them now."""
        self._moves += 1
        for key in list(self._unschedulable):
            self._activate(key)

    def is_unschedulable(self, key: str) -> bool:
        return key in self._unschedulable

    def close(self) -> None:
        for timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
