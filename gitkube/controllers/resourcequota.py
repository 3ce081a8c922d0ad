"""The ResourceQuota controller ("resourcequota-controller"), after kube-controller-manager's
``pkg/controller/resourcequota``: each quota's ``status.hard`` mirrors ``spec.hard`` and its
``status.used`` is recounted from the live objects of its namespace.

A quota being added or its spec changing enqueues it; a pod, service, configmap, secret or
persistentvolumeclaim being deleted, or changing what it counts (a pod reaching Succeeded or
Failed), enqueues every quota of its namespace (kube's replenishment); every quota is also
resynced every ``resync_period`` seconds (5 minutes, as kube). Usage of kinds without an
informer here (``count/deployments.apps`` ...) is listed through the API. The API server's
admission charges quotas as objects are created; this controller corrects the numbers
afterwards. Started by the ControllerManager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from gitkube import errors
from gitkube.api import quota, scheme
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.base import Controller, split_key

__all__ = ["RESYNC_PERIOD", "ResourceQuotaController"]

RESYNC_PERIOD = 300.0
_WATCHED = ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims")


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"
    workers = 2

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 resync_period: float = RESYNC_PERIOD) -> None:
        super().__init__(client, informers=informers)
        self.resync_period = resync_period
        self.quotas = self.informer("resourcequotas")
        self.quotas.add_handler(Handler(on_add=self.enqueue, on_update=self._quota_updated))
        self.watched: dict[str, Informer] = {}
        for plural in _WATCHED:
            inf = self.watched[plural] = self.informer(plural)
            inf.add_handler(Handler(on_add=self._object_added, on_update=self._object_updated,
                                    on_delete=self._object_changed))

    def _quota_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if (old.get("spec") or {}) != (new.get("spec") or {}) or \
                (new.get("status") or {}).get("hard") != (new.get("spec") or {}).get("hard"):
            self.enqueue(new)

    def _object_changed(self, obj: dict[str, Any]) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        if namespace:
            for rq in self.quotas.list(str(namespace)):
                self.enqueue(rq)

    def _object_added(self, obj: dict[str, Any]) -> None:
        # Admission charged it already; recount only when the quota's status looks unsynced.
        namespace = (obj.get("metadata") or {}).get("namespace")
        for rq in self.quotas.list(str(namespace)) if namespace else []:
            if (rq.get("status") or {}).get("hard") != (rq.get("spec") or {}).get("hard"):
                self.enqueue(rq)

    def _object_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if quota.usage_of(old) != quota.usage_of(new):
            self._object_changed(new)

    async def _objects(self, namespace: str, group: str, plural: str) -> list[dict[str, Any]]:
        if not group and plural in self.watched:
            return self.watched[plural].list(namespace)
        info = scheme.by_plural(group, plural)
        if info is None:
            return []
        return list((await self.client.list(info, namespace)).get("items") or [])

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        rq = self.quotas.get(namespace, name)
        if rq is None or namespace is None:
            return
        hard = dict((rq.get("spec") or {}).get("hard") or {})
        objects: list[dict[str, Any]] = []
        for group, plural in sorted(quota.tracked_resources(hard)):
            objects += await self._objects(namespace, group, plural)
        used = quota.calculate_used(rq, objects)
        status = rq.get("status") or {}
        if status.get("hard") == hard and status.get("used") == used:
            return
        body = {**rq, "status": {**status, "hard": hard, "used": used}}
        try:
            await self.client.update_status("resourcequotas", body)
        except errors.Conflict:
            self.queue.add(key)  # a charge by admission in between: recount on the fresh object
        except errors.NotFound:
            return

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            for rq in self.quotas.list():
                self.enqueue(rq)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._resync()]
