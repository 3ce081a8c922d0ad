"""The in-process watch fan-out of a store: committed changes to every interested watcher.

A store publishes each :class:`Change` right after its transaction commits, in revision
order, from the event-loop thread. Every :class:`Subscription` whose key prefix matches gets
it in a bounded buffer. A watcher that falls ``capacity`` events behind is dropped (its buffer
freed) and its next read raises ``Gone``, so the client re-lists and watches again, as the
Kubernetes watch cache does with unresponsive watchers. Closing the hub ends every
subscription.

Changes keep the stored JSON text; each watcher decodes its own copy
(:meth:`Change.to_event`), so no two consumers share a mutable dict. Readers that only look
(the API server's watch filter) use :attr:`Change.object` / :attr:`Change.prev_object`, decoded
once per change and shared by every watcher, and :meth:`Change.line`, the encoded watch-stream
line built once per change and event type: one decode and one encode per change, whatever
the number of watchers.

:class:`ChangeFeed` is one watcher's whole feed (the store's logged history, then the live
subscription) as a cancel-safe async iterator: a timed-out ``__anext__`` loses nothing, so
the API server waits on it with a plain ``asyncio.timeout`` instead of a task per event.

Called by ``gitkube.store.sqlite`` (and later the etcd store's watch relay).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gitkube import errors
from gitkube.store.base import EventType, WatchEvent

__all__ = ["DEFAULT_CAPACITY", "Change", "ChangeFeed", "Subscription", "WatchHub"]

DEFAULT_CAPACITY = 10_000
_RECENT_KEYS = 4096


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
        """A :class:`WatchEvent` holding private objects (copies of the shared decodes when
        they exist, which is cheaper than decoding again)."""
        cached = self.__dict__
        obj = _copy(cached["object"]) if "object" in cached else json.loads(self.value)
        prev: Any = None
        if self.prev_value is not None:
            prev = _copy(cached["prev_object"]) if "prev_object" in cached else json.loads(self.prev_value)
        return WatchEvent(self.type, self.key, obj, prev, self.revision)

    def share_prev(self, before: Change) -> None:
        """Reuse ``before``'s decoded object as this change's previous object when it is the
        same stored text (the change before this one of the same key)."""
        if "object" in before.__dict__ and before.value == self.prev_value:
            self.__dict__.setdefault("prev_object", before.__dict__["object"])

    @cached_property
    def object(self) -> dict[str, Any]:
        """The object after the change, decoded once and shared: read-only."""
        obj: dict[str, Any] = json.loads(self.value)
        return obj

    @cached_property
    def prev_object(self) -> dict[str, Any] | None:
        """The object before the change (None for ADDED), decoded once and shared: read-only."""
        if self.prev_value is None:
            return None
        obj: dict[str, Any] = json.loads(self.prev_value)
        return obj

    @cached_property
    def _lines(self) -> dict[str, bytes]:
        return {}

    def line(self, event_type: str) -> bytes:
        """``{"type":event_type,"object":<value>}`` plus a newline, encoded once per type."""
        lines = self._lines
        out = lines.get(event_type)
        if out is None:
            out = lines[event_type] = b''.join(
                (b'{"type":"', event_type.encode(), b'","object":', self.value.encode(), b"}\n"))
        return out


def _copy(value: Any) -> Any:
    """A deep copy of a JSON tree."""
    if type(value) is dict:
        return {k: _copy(v) if type(v) in (dict, list) else v for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) if type(v) in (dict, list) else v for v in value]
    return value


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
        # the newest change of recently changed keys: its shared decode is the next change's
        # previous object (bounded, so a big store does not keep every object twice)
        self._recent: OrderedDict[str, Change] = OrderedDict()

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
        recent = self._recent
        before = recent.pop(change.key, None)
        if before is not None and change.prev_value is not None:
            change.share_prev(before)
        if change.type != "DELETED":
            recent[change.key] = change
            if len(recent) > _RECENT_KEYS:
                recent.popitem(last=False)
        for sub in self._subs:
            if change.key.startswith(sub.prefix):
                sub.offer(change)

    def close(self) -> None:
        """End every subscription (watch generators return)."""
        subs, self._subs = self._subs, set()
        for sub in subs:
            sub.close()


class ChangeFeed:
    """Changes after revision ``since``: the log's history (``history(after)`` returns up to
    ``chunk`` changes after a revision, in order), then the live ``sub``, without gaps or
    duplicates. ``Gone`` (``too_old``) when the replay position falls below ``compacted()``,
    or when the subscription overflows once live. Ends when the subscription closes.

    Cancel-safe: the only await is the subscription's wakeup, so a cancelled or timed-out
    ``__anext__`` leaves the feed where it was. Close it with :meth:`aclose`."""

    def __init__(self, hub: WatchHub, sub: Subscription, since: int, *, history: Callable[[int], list[Change]],
                 compacted: Callable[[], int], too_old: Callable[[int], Exception], chunk: int) -> None:
        self._hub = hub
        self._sub = sub
        self._last = since
        self._history = history
        self._compacted = compacted
        self._too_old = too_old
        self._chunk_size = chunk
        self._chunk: deque[Change] = deque()
        self._replaying = True
        self._fetched = False  # a chunk was read and is being (or has been) handed out
        self._chunk_full = False

    def __aiter__(self) -> ChangeFeed:
        return self

    def ready(self) -> bool:
        """True when the next change can be had without waiting."""
        return bool(self._chunk) or (not self._replaying and self._sub.pending() > 0)

    async def __anext__(self) -> Change:
        sub = self._sub
        while True:
            if self._chunk:
                if sub.closed:
                    raise StopAsyncIteration
                change = self._chunk.popleft()
                self._last = change.revision
                return change
            if self._replaying:
                if self._fetched:  # the last chunk is handed out: read on, or go live
                    self._fetched = False
                    if not self._chunk_full:
                        if not sub.overflowed:
                            self._replaying = False
                            continue
                        sub.restart()  # writes outran the replay: the log still has them
                if sub.closed:
                    self._replaying = False
                    continue
                if self._last < self._compacted():
                    raise self._too_old(self._last)
                chunk = self._history(self._last)
                self._chunk.extend(chunk)
                self._fetched, self._chunk_full = True, len(chunk) == self._chunk_size
                continue
            live = await sub.next()
            if live is None:
                raise StopAsyncIteration
            if live.revision > self._last:
                self._last = live.revision
                return live

    async def aclose(self) -> None:
        """Stop following (idempotent)."""
        self._hub.unsubscribe(self._sub)
