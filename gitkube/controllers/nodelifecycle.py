"""The node lifecycle controller ("node-controller") with taint-based eviction, after
kube-controller-manager's ``pkg/controller/nodelifecycle`` and ``pkg/controller/tainteviction``.

Node health: a node heartbeats by renewing the Lease named after it in ``kube-node-lease``
and by refreshing ``lastHeartbeatTime`` of its Ready condition. The controller stamps, by
its own (injectable) clock, when it last saw either change; once ``grace_period`` passes
without one (``startup_grace_period`` for a node that never posted status), it sets Ready,
MemoryPressure, DiskPressure and PIDPressure to Unknown ("Kubelet stopped posting node
status.") and marks the node's pods Ready=False. Taints follow the Ready condition:
Unknown → ``node.kubernetes.io/unreachable``, False → ``node.kubernetes.io/not-ready``
(NoSchedule and NoExecute, the latter with ``timeAdded``), True → neither; pressure
conditions and ``spec.unschedulable`` give their NoSchedule taints.

Eviction: a pod on a node with NoExecute taints is deleted once every taint is past its
toleration: immediately for a taint it does not tolerate, after ``tolerationSeconds`` for
one it does (never without), and after ``pod_eviction_timeout`` for the not-ready and
unreachable taints when it has no toleration for them (what the DefaultTolerationSeconds
admission plugin gives every pod in Kubernetes). Its controller then recreates it
elsewhere. Keys: a node name, or ``namespace/name`` for a pod. A monitor task re-queues
every node each ``monitor_period``. Started by the ControllerManager.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.api import labels as well_known
from gitkube.api import meta
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers.base import Controller, split_key

__all__ = ["Clock", "NodeLifecycleController", "eviction_deadline", "tolerates"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Clock = Callable[[], dt.datetime]

_CONDITIONS_UNKNOWN = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_PRESSURE_TAINTS = {"MemoryPressure": "node.kubernetes.io/memory-pressure",
                    "DiskPressure": "node.kubernetes.io/disk-pressure",
                    "PIDPressure": "node.kubernetes.io/pid-pressure"}
_MANAGED = {well_known.TAINT_NOT_READY, well_known.TAINT_UNREACHABLE, well_known.TAINT_UNSCHEDULABLE,
            *_PRESSURE_TAINTS.values()}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return str(toleration.get("value") or "") == str(taint.get("value") or "")


def eviction_deadline(pod: Obj, taints: list[Obj], default_seconds: float, first_seen: dt.datetime) -> dt.datetime | None:
    """When ``pod`` must go because of the NoExecute ``taints``; None when it may stay."""
    deadline: dt.datetime | None = None
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in taints:
        since = meta.parse_time(taint["timeAdded"]) if taint.get("timeAdded") else first_seen
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            if taint.get("key") not in (well_known.TAINT_NOT_READY, well_known.TAINT_UNREACHABLE):
                return since
            seconds: float | None = default_seconds
        else:
            bounded = [max(float(t["tolerationSeconds"]), 0.0) for t in matching if t.get("tolerationSeconds") is not None]
            seconds = min(bounded) if len(bounded) == len(matching) else None  # one without a bound: forever
        if seconds is None:
            continue
        when = since + dt.timedelta(seconds=seconds)
        deadline = when if deadline is None else min(deadline, when)
    return deadline


@dataclass
class _Health:
    probe: dt.datetime
    heartbeat: str | None
    renew: str | None


class NodeLifecycleController(Controller):
    name = "node-controller"
    workers = 4

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 grace_period: float = 40.0, startup_grace_period: float = 60.0,
                 pod_eviction_timeout: float = 300.0, monitor_period: float = 5.0,
                 clock: Clock | None = None) -> None:
        super().__init__(client, informers=informers)
        self.grace_period = grace_period
        self.startup_grace_period = startup_grace_period
        self.pod_eviction_timeout = pod_eviction_timeout
        self.monitor_period = monitor_period
        self.clock: Clock = clock or _utcnow
        self._health: dict[str, _Health] = {}
        self._first_tainted: dict[str, dt.datetime] = {}
        self.nodes = self.informer("nodes")
        self.leases = self.informer("leases")
        self.pods = self.informer("pods")
        self.nodes.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                       on_delete=self.enqueue))
        self.leases.add_handler(Handler(on_add=self._lease_changed, on_update=lambda _o, n: self._lease_changed(n)))
        self.pods.add_handler(Handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n)))

    def _lease_changed(self, lease: Obj) -> None:
        if (lease.get("metadata") or {}).get("namespace") == well_known.LEASE_NAMESPACE:
            self.queue.add(str(lease["metadata"]["name"]))

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
            self.enqueue(pod)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._monitor()]

    async def _monitor(self) -> None:
        await self.nodes.synced.wait()
        while True:
            for node in self.nodes.list():
                self.enqueue(node)
            await asyncio.sleep(self.monitor_period)

    async def sync(self, key: str) -> None:
        if "/" in key:
            await self._sync_pod(key)
        else:
            await self._sync_node(key)

    # -- node health ----------------------------------------------------------------------

    async def _sync_node(self, name: str) -> None:
        node = self.nodes.get(None, name)
        if node is None:
            self._health.pop(name, None)
            return
        node = await self._update_health(node)
        ready = _condition(node, "Ready")
        status = str(ready.get("status")) if ready else ""  # never posted: left to the agent's own taints
        node = await self._reconcile_taints(node, status)
        if status in ("False", "Unknown"):
            await self._mark_pods_not_ready(name)
        if any(t.get("effect") == "NoExecute" for t in (node.get("spec") or {}).get("taints") or []):
            for pod in self.pods.list():
                if (pod.get("spec") or {}).get("nodeName") == name:
                    self.enqueue(pod)

    async def _update_health(self, node: Obj) -> Obj:
        name = node["metadata"]["name"]
        now = self.clock()
        ready = _condition(node, "Ready")
        heartbeat = str(ready.get("lastHeartbeatTime")) if ready else None
        lease = self.leases.get(well_known.LEASE_NAMESPACE, name)
        renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "") or None
        health = self._health.get(name)
        if health is None:
            created = node["metadata"].get("creationTimestamp")
            probe = meta.parse_time(created) if ready is None and created else now
            health = self._health[name] = _Health(probe, heartbeat, renew)
        elif health.heartbeat != heartbeat or (renew is not None and health.renew != renew):
            health.probe, health.heartbeat, health.renew = now, heartbeat, renew
        grace = self.startup_grace_period if ready is None else self.grace_period
        if now <= health.probe + dt.timedelta(seconds=grace):
            return node
        updated = copy.deepcopy(node)
        conditions = updated.setdefault("status", {}).setdefault("conditions", [])
        stamp, changed = meta.format_time(now), False
        for kind in _CONDITIONS_UNKNOWN:
            cond = _condition(updated, kind)
            if cond is None:
                conditions.append({"type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                   "message": "Kubelet never posted node status.",
                                   "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                                   "lastTransitionTime": stamp})
                changed = True
            elif cond.get("status") != "Unknown":
                cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                            lastTransitionTime=stamp)
                changed = True
        if not changed:
            return node
        was_ready = ready is not None and ready.get("status") == "True"
        result = await self.client.update_status("nodes", updated)
        posted = _condition(result, "Ready")
        health.heartbeat = str(posted.get("lastHeartbeatTime")) if posted else None
        if was_ready:
            self.events.record(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        log.info("%s: node %s stopped posting status; Ready is now Unknown", self.name, name)
        return result

    def _desired_taints(self, node: Obj, status: str, now: dt.datetime) -> list[Obj]:
        current = list((node.get("spec") or {}).get("taints") or [])
        want: list[tuple[str, str]] = []
        if status == "Unknown":
            want += [(well_known.TAINT_UNREACHABLE, "NoSchedule"), (well_known.TAINT_UNREACHABLE, "NoExecute")]
        elif status == "False":
            want += [(well_known.TAINT_NOT_READY, "NoSchedule"), (well_known.TAINT_NOT_READY, "NoExecute")]
        for kind, key in _PRESSURE_TAINTS.items():
            cond = _condition(node, kind)
            if cond is not None and cond.get("status") == "True":
                want.append((key, "NoSchedule"))
        if (node.get("spec") or {}).get("unschedulable"):
            want.append((well_known.TAINT_UNSCHEDULABLE, "NoSchedule"))
        kept = [t for t in current if t.get("key") not in _MANAGED or (t.get("key"), t.get("effect")) in want]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        for key, effect in want:
            if (key, effect) not in have:
                taint: Obj = {"key": key, "effect": effect}
                if effect == "NoExecute":
                    taint["timeAdded"] = meta.format_time(now)
                kept.append(taint)
        return kept

    async def _reconcile_taints(self, node: Obj, status: str) -> Obj:
        taints = self._desired_taints(node, status, self.clock())
        current = (node.get("spec") or {}).get("taints") or []
        if taints == current:
            return node
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": node["metadata"]["resourceVersion"]},
               {"op": "add", "path": "/spec/taints", "value": taints} if "spec" in node
               else {"op": "add", "path": "/spec", "value": {"taints": taints}}]
        result = await self.client.patch("nodes", node["metadata"]["name"], ops, patch_type="json")
        log.info("%s: node %s taints now %s", self.name, node["metadata"]["name"],
                 [f"{t['key']}:{t['effect']}" for t in taints])
        return result

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        """controller.MarkPodsNotReady: the pods of a node that is not Ready are not Ready either."""
        stamp = meta.format_time(self.clock())
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") != node_name or pod["metadata"].get("deletionTimestamp"):
                continue
            cond = _condition(pod, "Ready")
            if cond is None or cond.get("status") == "False":
                continue
            updated = copy.deepcopy(pod)
            target = _condition(updated, "Ready")
            assert target is not None
            target.update(status="False", lastTransitionTime=stamp)
            try:
                await self.client.update_status("pods", updated)
            except errors.NotFound:
                continue
            self.events.record(pod, "Warning", "NodeNotReady", "Node is not ready")

    # -- taint-based eviction -------------------------------------------------------------

    async def _sync_pod(self, key: str) -> None:
        ns, name = split_key(key)
        pod = self.pods.get(ns, name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            self._first_tainted.pop(key, None)
            return
        node = self.nodes.get(None, str((pod.get("spec") or {}).get("nodeName") or ""))
        taints = [t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if node is None or not taints:
            self._first_tainted.pop(key, None)
            return
        now = self.clock()
        first_seen = self._first_tainted.setdefault(key, now)
        deadline = eviction_deadline(pod, taints, self.pod_eviction_timeout, first_seen)
        if deadline is None:
            return
        if now < deadline:
            self.queue.add_after(key, (deadline - now).total_seconds())
            return
        await self._evict(pod)
        self._first_tainted.pop(key, None)

    async def _evict(self, pod: Obj) -> None:
        m = pod["metadata"]
        self.events.record(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key_of(pod)}")
        updated = copy.deepcopy(pod)
        conditions = updated.setdefault("status", {}).setdefault("conditions", [])
        if _condition(updated, "DisruptionTarget") is None:
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                               "message": "Taint manager: deleting due to NoExecute taint",
                               "lastTransitionTime": meta.format_time(self.clock())})
            with contextlib.suppress(errors.Conflict, errors.NotFound, errors.Invalid):
                await self.client.update_status("pods", updated)
        try:
            await self.client.delete("pods", m["name"], m["namespace"], uid=m.get("uid"))
        except errors.NotFound:
            return
        log.info("%s: evicted pod %s from node %s", self.name, key_of(pod), pod["spec"].get("nodeName"))
