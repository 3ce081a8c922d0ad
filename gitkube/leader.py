"""The loops only the leader runs, and who the leader is: ``gitkube up``'s side of HA.

Every daemon serves the API (and runs its own node agent and service proxy when it has a local
node); only the leader runs the control loops: the controller manager (node lifecycle
included), the scheduler and the GitOps engine's sync. :class:`Leadership` runs one *term* of
those loops at a time:

- with a SQLite store there is one daemon, so it is always the leader: one term, no election;
- with an etcd store several daemons may share it: a
  :class:`~gitkube.client.leaderelection.LeaderElector` decides, and each time this daemon
  becomes leader a fresh set of loops is built (``build()``), so nothing a former term cached
  (informer caches, the engine's desired state) outlives it; losing the Lease cancels them.

Loops are cancelled in the order ``build`` lists them (the GitOps engine first, so no sync is
half-way when the controllers stop). In an elected term, a loop that ends by itself ends the
term, so another daemon can lead. ``status()`` is what ``/gitkube/v1/status`` reports (:func:`status_handler`), and
:func:`leader_only` keeps the engine's sync and rollback endpoints to the leader.
Built by ``gitkube.app`` (its only caller; nothing imports this module otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.client.leaderelection import LeaderElector

__all__ = ["Handler", "Leadership", "Loop", "leader_only", "status_handler"]

log = logging.getLogger(__name__)

Loop = tuple[str, Callable[[], Coroutine[Any, Any, None]]]  # (task name, coroutine function)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Leadership:
    """Runs ``build()``'s loops while this daemon leads (always, when ``elector`` is None)."""

    def __init__(self, identity: str, build: Callable[[], Sequence[Loop]], elector: LeaderElector | None = None) -> None:
        self.identity = identity
        self.elector = elector
        self._build = build
        self._always = elector is None
        self.terms = 0

    @property
    def is_leader(self) -> bool:
        return self._always or (self.elector is not None and self.elector.is_leader)

    @property
    def leader(self) -> str:
        """The leader's identity as this daemon last saw it ("" when unknown)."""
        if self.elector is None:
            return self.identity
        return self.elector.leader

    def status(self) -> dict[str, Any]:
        if self.elector is None:
            return {"identity": self.identity, "leader": self.identity, "isLeader": True, "election": "none"}
        return {**self.elector.status(), "election": "lease"}

    async def run(self) -> None:
        """Until cancelled: the terms this daemon leads (with no elector, one endless term)."""
        if self.elector is None:
            await self._term()
        else:
            await self.elector.run(self._term)

    async def _term(self) -> None:
        self.terms += 1
        loops = list(self._build())
        log.info("leading (term %d): starting %s", self.terms, ", ".join(name for name, _ in loops))
        tasks = [asyncio.create_task(run(), name=name) for name, run in loops]
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = None if task.cancelled() else task.exception()
                    if exc is not None:
                        log.error("%s stopped with an error", task.get_name(), exc_info=exc)
                    else:
                        log.warning("%s stopped", task.get_name())
                if not self._always:
                    return  # the elector ends the term and lets another daemon lead
        finally:
            for task in tasks:  # in order: the engine first
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def leader_only(leadership: Callable[[], Leadership | None], handler: Handler) -> Handler:
    """``handler`` on the leader; on another daemon a POST is refused with 409 naming the leader
    (its engine is idle: a sync or rollback started there would race the leader's)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        lead = leadership()
        if request.method == "POST" and lead is not None and not lead.is_leader:
            raise errors.Conflict(f"this daemon is not the leader: send this to the leader "
                                  f"({lead.leader or 'none elected yet'})")
        return await handler(request)

    return guarded


def status_handler(leadership: Callable[[], Leadership | None], handler: Handler,
                   shared: Callable[[], Awaitable[dict[str, Any]]]) -> Handler:
    """The engine's ``/gitkube/v1/status`` with a ``leader`` field; on a daemon that does not lead,
    ``commit``, ``healthy`` and ``held`` come from ``shared()`` (the release log)."""

    async def status(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        lead = leadership()
        if (lead is None or request.method != "GET" or response.status != 200
                or not isinstance(response, web.Response) or not isinstance(response.body, bytes)):
            return response
        body = json.loads(response.body)
        body["leader"] = lead.status()
        if not lead.is_leader:
            body.update(await shared())
            body["message"] = f"not the leader; {lead.leader or 'another daemon'} syncs"
        return web.Response(body=json.dumps(body, indent=1).encode(), content_type="application/json")

    return status
