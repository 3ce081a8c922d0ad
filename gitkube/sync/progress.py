"""Progress of one sync as a stream of small JSON events, with followers.

The syncer emits events (``plan``, ``wave``, ``apply``, ``prune``, ``health``, ``outcome``...);
the daemon keeps the log of the latest syncs so that a post-receive hook, ``gitkube apply`` or
the dashboard can follow one from its start, even if they connect a little late. Every event is
one flat JSON object with ``type`` and ``message`` (a human line); it never carries object
values, so secrets cannot leak through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["Event", "ProgressLog"]

Event = dict[str, Any]


class ProgressLog:
    def __init__(self, commit: str, *, echo: Callable[[Event], None] | None = None) -> None:
        self.commit = commit
        self.events: list[Event] = []
        self.done = False
        self._changed = asyncio.Condition()
        self._echo = echo
        self._t0 = time.monotonic()

    def emit(self, type_: str, message: str, **fields: Any) -> Event:
        event: Event = {"type": type_, "message": message, "t": round(time.monotonic() - self._t0, 3), **fields}
        self.events.append(event)
        if self._echo is not None:
            self._echo(event)
        asyncio.get_running_loop().create_task(self._notify())
        return event

    async def close(self) -> None:
        self.done = True
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def follow(self) -> AsyncIterator[Event]:
        """Every event from the first, then new ones as they come, until the sync is done."""
        index = 0
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            async with self._changed:
                if index >= len(self.events) and not self.done:
                    await self._changed.wait()
