"""The dashboard's view of the cluster: one list+watch cache per kind it shows, shared by every page.

:class:`ClusterCache` runs a :class:`gitkube.client.Informer` for namespaces, the workloads and
their pods, Services and Endpoints, Events, and the ConfigMaps of ``gitkube-system`` (the release
log and the engine's state: a sync starting or ending changes them). Every change bumps
:attr:`ClusterCache.version` and wakes :meth:`ClusterCache.wait_change`, which is what the
dashboard's server-sent-event streams wait on before they re-render a partial. Secrets are never
listed or watched, so no page can show one.

Started lazily by ``gitkube.ui.server`` on the first page view, stopped with the dashboard.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from typing import Any

from gitkube.client import Client, Handler, Informer

__all__ = ["RESOURCES", "SYSTEM_NAMESPACE", "ClusterCache"]

log = logging.getLogger(__name__)

RESOURCES = ("namespaces", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "pods",
             "services", "endpoints", "events")
SYSTEM_NAMESPACE = "gitkube-system"
RELEASES = "releases"  # the ConfigMaps of gitkube-system

Obj = dict[str, Any]


class ClusterCache:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.informers: dict[str, Informer] = {r: Informer(client, r) for r in RESOURCES}
        self.informers[RELEASES] = Informer(client, "configmaps", namespace=SYSTEM_NAMESPACE)
        self.version = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        handler = Handler(on_add=lambda _o: self._bump(), on_update=lambda _o, _n: self._bump(),
                          on_delete=lambda _o: self._bump())
        for informer in self.informers.values():
            informer.add_handler(handler)

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start every informer (once)."""
        if self._tasks:
            return
        for name, informer in self.informers.items():
            self._tasks.append(asyncio.create_task(informer.run(), name=f"ui-informer-{name}"))

    async def wait_synced(self, timeout: float = 10.0) -> bool:
        """True when every informer has listed once (within ``timeout``)."""
        self.start()
        try:
            await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self.informers.values())), timeout)
        except TimeoutError:
            log.warning("dashboard cache not synced after %.0fs", timeout)
            return False
        return True

    async def wait_change(self, seen: int, timeout: float) -> bool:
        """Wait until :attr:`version` differs from ``seen``; False on timeout."""
        if self.version != seen:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return self.informers[resource].list(namespace or None)

    def get(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        return self.informers[resource].get(namespace, name)

    def snapshot(self, namespace: str | None = None) -> dict[str, builtins.list[Obj]]:
        """The cached objects of every workload kind (and pods, Services, Endpoints) in ``namespace``
        (None: all), for :func:`gitkube.ui.tree.build`."""
        return {r: self.list(r, namespace) for r in RESOURCES if r not in ("namespaces", "events")}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
