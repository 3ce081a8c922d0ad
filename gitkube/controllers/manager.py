"""The controller manager: gitkube's kube-controller-manager.

``ControllerManager(client, ...)`` builds the controllers (deployment, replicaset,
endpoints, serviceaccount, node lifecycle, node IPAM) around one shared informer per
resource, so pods are listed and watched once however many controllers read them.
``run()`` starts every informer once, then runs each controller with
``run(start_informers=False)`` until cancelled. ``enable`` selects controllers the way
``--controllers`` does: names (``replicaset`` or ``replicaset-controller``), ``*`` for
all, ``-name`` to leave one out. Namespace deletion and garbage collection by
ownerReferences happen inside the API server, so there is no controller for them here.
Wired into ``gitkube up`` by ``gitkube.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from gitkube import errors
from gitkube.client import Client, Informer
from gitkube.controllers.base import Controller
from gitkube.controllers.endpoints import EndpointsController
from gitkube.controllers.nodeipam import NodeIpamController
from gitkube.controllers.nodelifecycle import NodeLifecycleController
from gitkube.controllers.replicaset import ReplicaSetController
from gitkube.controllers.resourcequota import ResourceQuotaController
from gitkube.controllers.serviceaccount import ServiceAccountController

__all__ = ["CONTROLLER_NAMES", "ControllerManager", "selected_controllers"]

log = logging.getLogger(__name__)

# --controllers names, as kube-controller-manager spells them (short aliases accepted).
CONTROLLER_NAMES = ("deployment", "replicaset", "endpoint", "serviceaccount", "nodelifecycle", "nodeipam",
                    "daemonset", "statefulset", "persistentvolume-binder",
                    "horizontalpodautoscaling", "job", "cronjob", "resourcequota")
_ALIASES = {
    "horizontal-pod-autoscaler-controller": "horizontalpodautoscaling",
    "hpa": "horizontalpodautoscaling",
    "deployment-controller": "deployment",
    "replicaset-controller": "replicaset",
    "endpoints-controller": "endpoint",
    "endpoint-controller": "endpoint",
    "endpoints": "endpoint",
    "serviceaccount-controller": "serviceaccount",
    "node-lifecycle-controller": "nodelifecycle",
    "node-ipam-controller": "nodeipam",
    "daemonset-controller": "daemonset",
    "statefulset-controller": "statefulset",
    "persistentvolume-binder-controller": "persistentvolume-binder",
    "job-controller": "job",
    "cronjob-controller": "cronjob",
    "resourcequota-controller": "resourcequota",
}


def selected_controllers(enable: Iterable[str] | None) -> list[str]:
    """The controller names ``enable`` turns on (None: all)."""
    if enable is None:
        return list(CONTROLLER_NAMES)
    chosen: set[str] = set()
    excluded: set[str] = set()
    for raw in enable:
        item = raw.strip()
        if not item:
            continue
        negate = item.startswith("-")
        name = item[1:] if negate else item
        if name == "*":
            chosen.update(CONTROLLER_NAMES)
            continue
        name = _ALIASES.get(name, name)
        if name not in CONTROLLER_NAMES:
            raise errors.ConfigError(f'"{name}" is not in the list of known controllers: {", ".join(CONTROLLER_NAMES)}')
        (excluded if negate else chosen).add(name)
    return [n for n in CONTROLLER_NAMES if n in chosen and n not in excluded]


def _deployment_controller(client: Client, informers: dict[str, Informer]) -> Controller:
    from gitkube.controllers.deployment import DeploymentController

    return DeploymentController(client, informers=informers)


def _daemonset_controller(client: Client, informers: dict[str, Informer]) -> Controller:
    from gitkube.controllers.daemonset import DaemonSetController

    return DaemonSetController(client, informers=informers)


def _hpa_controller(client: Client, informers: dict[str, Informer], sync_period: float) -> Controller:
    from gitkube.controllers.hpa import HorizontalPodAutoscalerController

    return HorizontalPodAutoscalerController(client, informers=informers, sync_period=sync_period)


def _job_controller(client: Client, informers: dict[str, Informer]) -> Controller:
    from gitkube.controllers.job import JobController

    return JobController(client, informers=informers)


def _cronjob_controller(client: Client, informers: dict[str, Informer]) -> Controller:
    from gitkube.controllers.cronjob import CronJobController

    return CronJobController(client, informers=informers)


def _statefulset_controller(client: Client, informers: dict[str, Informer]) -> Controller:
    from gitkube.controllers.statefulset import StatefulSetController

    return StatefulSetController(client, informers=informers)


def _volume_controller(client: Client, informers: dict[str, Informer], volume_dir: Path) -> Controller:
    from gitkube.controllers.volumes import PersistentVolumeController

    return PersistentVolumeController(client, base_dir=volume_dir, informers=informers)


class ControllerManager:
    def __init__(self, client: Client, *, node_grace_period: float = 40.0, pod_eviction_timeout: float = 300.0,
                 cluster_cidr: str = "127.64.0.0/10", enable: Iterable[str] | None = None,
                 hpa_sync_period: float = 15.0, volume_dir: Path | None = None) -> None:
        self.client = client
        self.informers: dict[str, Informer] = {}
        factories: dict[str, Callable[[], Controller]] = {
            "horizontalpodautoscaling": lambda: _hpa_controller(client, self.informers, hpa_sync_period),
            "deployment": lambda: _deployment_controller(client, self.informers),
            "replicaset": lambda: ReplicaSetController(client, informers=self.informers),
            "endpoint": lambda: EndpointsController(client, informers=self.informers),
            "serviceaccount": lambda: ServiceAccountController(client, informers=self.informers),
            "nodelifecycle": lambda: NodeLifecycleController(client, informers=self.informers,
                                                             grace_period=node_grace_period,
                                                             pod_eviction_timeout=pod_eviction_timeout),
            "nodeipam": lambda: NodeIpamController(client, informers=self.informers, cluster_cidr=cluster_cidr),
            "daemonset": lambda: _daemonset_controller(client, self.informers),
            "statefulset": lambda: _statefulset_controller(client, self.informers),
            "job": lambda: _job_controller(client, self.informers),
            "cronjob": lambda: _cronjob_controller(client, self.informers),
            "resourcequota": lambda: ResourceQuotaController(client, informers=self.informers),
        }
        if volume_dir is not None:  # the local provisioner needs a directory (DATA/volumes)
            factories["persistentvolume-binder"] = lambda: _volume_controller(client, self.informers, volume_dir)
        self.controllers: list[Controller] = [factories[name]() for name in selected_controllers(enable)
                                              if name in factories]

    def controller(self, name: str) -> Controller:
        """The running controller called ``name`` ("replicaset-controller" ...)."""
        for c in self.controllers:
            if c.name == name:
                return c
        raise KeyError(name)

    def _all_informers(self) -> list[Informer]:
        seen: list[Informer] = list(self.informers.values())
        for c in self.controllers:  # informers a controller made with options are not shared
            for inf in c._informers:
                if inf not in seen:
                    seen.append(inf)
        return seen

    async def run(self) -> None:
        """Start each informer once, then every controller; until cancelled."""
        informer_tasks = [asyncio.create_task(inf.run(), name=f"informer-{inf.resource}")
                          for inf in self._all_informers()]
        controller_tasks = [asyncio.create_task(c.run(start_informers=False), name=c.name) for c in self.controllers]
        log.info("controller manager: started %s", ", ".join(c.name for c in self.controllers))
        try:
            await asyncio.gather(*controller_tasks)
        finally:
            for t in controller_tasks + informer_tasks:
                t.cancel()
            for t in controller_tasks + informer_tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for c in self.controllers:
                await c.events.flush()
