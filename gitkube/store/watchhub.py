"""The in-process watch fan-out of a store: committed changes to every interested watcher.

A store publishes each :class:`Change` right after its transaction commits, in revision
order, from the event-loop thread. Every :class:`Subscription` whose key prefix matches gets
it in a bounded buffer. A watcher that falls ``capacity`` events behind is dropped (its buffer
freed) and its next read raises ``Gone``, so the client re-lists and watches again, as the
Kubernetes watch cache does with unresponsive watchers. Closing the hub ends every
subscription.

Changes keep the stored JSON text; each watcher decodes its own copy
(:meth:`Change.to_event`), so no two consumers share a mutable dict.

Called by ``gitkube.store.sqlite`` (and later the etcd store's watch relay).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass

from gitkube import errors
from gitkube.store.base import EventType, WatchEvent

__all__ = ["DEFAULT_CAPACITY", "Change", "Subscription", "WatchHub"]

DEFAULT_CAPACITY = 10_000


@dataclass(frozen=True)
class Change:
    """One committed change as stored: the object after it (before it, for DELETED, with
    the delete revision) and before it, as JSON text."""

    type: EventType
    key: str
    value: str
    prev_value: str | None
    revision: int

    def to_event(self) -> WatchEvent:
        """A :class:`WatchEvent` holding freshly decoded objects."""
        prev = json.loads(self.prev_value) if self.prev_value is not None else None
        return WatchEvent(self.type, self.key, json.loads(self.value), prev, self.revision)


class Subscription:
    """One watcher's live feed: changes under ``prefix``, buffered up to ``capacity``."""

    def __init__(self, prefix: str, capacity: int) -> None:
        self.prefix = prefix
        self.capacity = capacity
        self.overflowed = False
        self.closed = False
        self._buffer: deque[Change] = deque()
        self._wakeup = asyncio.Event()

    def offer(self, change: Change) -> None:
        """Queue ``change``; on overflow drop everything and mark the watcher expired."""
        if self.closed or self.overflowed:
            return
        if len(self._buffer) >= self.capacity:
            self.overflowed = True
            self._buffer.clear()
        else:
            self._buffer.append(change)
        self._wakeup.set()

    def restart(self) -> None:
        """Forget an overflow and start buffering afresh (for a watcher still replaying the
        log, which holds everything the buffer dropped)."""
        self.overflowed = False
        self._buffer.clear()

    def close(self) -> None:
        """End the feed: :meth:`next` returns ``None`` once the buffer is drained."""
        self.closed = True
        self._wakeup.set()

    def pending(self) -> int:
        """How many changes wait in the buffer."""
        return len(self._buffer)

    async def next(self) -> Change | None:
        """The next change; ``None`` when the feed was closed; ``Gone`` if it overflowed."""
        while True:
            if self.overflowed:
                raise errors.Gone(
                    f"watch of {self.prefix!r} fell more than {self.capacity} events behind and was "
                    "closed: too old resource version; list again and restart the watch"
                )
            if self._buffer:
                return self._buffer.popleft()
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()


class WatchHub:
    """The set of live subscriptions of one store."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise errors.ConfigError(f"watch buffer capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._subs: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, prefix: str) -> Subscription:
        """Start buffering changes under ``prefix``; pair with :meth:`unsubscribe`."""
        sub = Subscription(prefix, self.capacity)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.close()

    def publish(self, change: Change) -> None:
        """Hand a committed change to every subscription whose prefix matches its key."""
        for sub in self._subs:
            if change.key.startswith(sub.prefix):
                sub.offer(change)

    def close(self) -> None:
        """End every subscription (watch generators return)."""
        subs, self._subs = self._subs, set()
        for sub in subs:
            sub.close()
