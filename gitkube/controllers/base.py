"""The shape every controller shares: informers feed keys into a rate-limited queue;
workers call ``sync(key)``, which reads from the informer caches and takes one bounded,
level-triggered step through the API (kube-controller-manager's pattern).

A subclass declares its informers in ``__init__`` with ``self.informer(resource)``,
registers handlers that only enqueue keys (``self.enqueue``, ``self.enqueue_owner``), and
implements ``sync``. ``run()`` starts the informers, waits until every cache has synced,
then runs the workers until cancelled. Errors raised by ``sync`` re-queue the key with
backoff. Used by every module of ``gitkube.controllers``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from gitkube.api import meta, selectors
from gitkube.client import Client, EventRecorder, Informer, WorkQueue, key_of, run_workers

__all__ = ["Controller", "resolve_controller_ref", "selecting", "split_key"]

log = logging.getLogger(__name__)


def split_key(key: str) -> tuple[str | None, str]:
    """``"ns/name"`` → ``("ns", "name")``; ``"name"`` → ``(None, "name")``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def resolve_controller_ref(obj: dict[str, Any], kind: str, owners: Informer) -> dict[str, Any] | None:
    """The live ``kind`` that controls ``obj`` (kube's ``resolveControllerRef``): its controller
    reference names a cached object of that kind in the same namespace with the same uid."""
    ref = meta.controller_ref(obj)
    if not ref or ref.get("kind") != kind:
        return None
    owner = owners.get((obj.get("metadata") or {}).get("namespace"), str(ref.get("name")))
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return None
    return owner


def selecting(obj: dict[str, Any], owners: Informer) -> list[dict[str, Any]]:
    """Every cached owner in ``obj``'s namespace whose non-empty selector matches ``obj``: the
    controllers that could adopt an orphan."""
    labels = meta.labels_of(obj)
    out = []
    for owner in owners.list((obj.get("metadata") or {}).get("namespace")):
        sel = selectors.from_label_selector_spec((owner.get("spec") or {}).get("selector"))
        if not sel.empty and sel.matches(labels):
            out.append(owner)
    return out


class Controller(abc.ABC):
    """Base class: subclasses set ``name`` and implement ``sync``."""

    name = "controller"
    workers = 2

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None) -> None:
        self.client = client
        self.queue: WorkQueue[str] = WorkQueue()
        self.events = EventRecorder(client, self.name)
        self._shared = informers if informers is not None else {}
        self._informers: list[Informer] = []

    def informer(self, resource: str, **kwargs: Any) -> Informer:
        """An informer for ``resource`` ("pods", "deployments" ...), shared between the
        controllers of one manager when they ask for the same resource without options."""
        if not kwargs and resource in self._shared:
            inf = self._shared[resource]
        else:
            inf = Informer(self.client, resource, **kwargs)
            if not kwargs:
                self._shared[resource] = inf
        if inf not in self._informers:
            self._informers.append(inf)
        return inf

    def enqueue(self, obj: dict[str, Any]) -> None:
        self.queue.add(key_of(obj))

    def enqueue_owner(self, obj: dict[str, Any], kind: str) -> None:
        """Enqueue the controlling owner of ``obj`` if it is a ``kind``."""
        ref = meta.controller_ref(obj)
        if ref and ref.get("kind") == kind:
            ns = (obj.get("metadata") or {}).get("namespace")
            self.queue.add(f"{ns}/{ref['name']}" if ns else str(ref["name"]))

    @abc.abstractmethod
    async def sync(self, key: str) -> None:
        """Take one step towards the desired state of the object at ``key``."""

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Loops to run next to the workers for the controller's lifetime (periodic resyncs,
        monitors); cancelled when it stops. None by default."""
        return []

    async def run(self, *, start_informers: bool = True) -> None:
        tasks: list[asyncio.Task[None]] = []
        if start_informers:
            tasks = [asyncio.create_task(inf.run(), name=f"{self.name}-informer-{inf.resource}")
                     for inf in self._informers]
        tasks += [asyncio.create_task(loop, name=f"{self.name}-background") for loop in self.background()]
        try:
            await asyncio.gather(*(inf.synced.wait() for inf in self._informers))
            log.info("%s: caches synced", self.name)
            await run_workers(self.queue, self.sync, workers=self.workers, name=self.name)
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

