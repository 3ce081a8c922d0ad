"""The scheduler component: watches pods and nodes, places pending pods, binds them.

``Scheduler(client).run()`` runs until cancelled:

- informers on pods (all namespaces) and nodes feed the cache (nodes, assigned pods) and
  the scheduling queue (pending pods whose ``spec.schedulerName`` is this scheduler's,
  not being deleted); handlers never call the API;
- the loop pops one pod at a time, runs the framework over the cache's nodes
  (:func:`gitkube.scheduler.runtime.schedule_pod`), assumes the pod on the chosen node and
  starts its binding (``pods/binding``) in the background, so the next cycle starts at
  once, as kube-scheduler's binding cycle does;
- a pod that fits nowhere gets ``PodScheduled=False``/``Unschedulable`` with the message
  kube-scheduler writes ("0/3 nodes are available: ...") and a ``FailedScheduling`` Warning
  event, and is retried when a node is added or changes or a pod goes away, or after its
  backoff; a successful binding records ``Scheduled`` ("Successfully assigned ns/pod to
  node"); a failed one forgets the assumption and retries after a backoff.

Talks to the cluster only through ``gitkube.client``. Wired by the composition root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client, EventRecorder, Handler, Informer, key_of
from gitkube.scheduler import registry as plugin_registry
from gitkube.scheduler import runtime
from gitkube.scheduler.cache import SchedulerCache, is_terminal
from gitkube.scheduler.nodeinfo import PodInfo
from gitkube.scheduler.queue import SchedulingQueue

__all__ = ["DEFAULT_SCHEDULER_NAME", "ERR_NO_NODES_AVAILABLE", "Scheduler", "node_changed"]

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"
ERR_NO_NODES_AVAILABLE = "no nodes available to schedule pods"

Obj = dict[str, Any]


def node_changed(old: Obj, new: Obj) -> bool:
    """Could the change make a pod fit (allocatable, labels, taints, unschedulable,
    conditions)? Heartbeat timestamps alone do not count."""
    def view(n: Obj) -> tuple[Any, ...]:
        status = n.get("status") or {}
        conditions = sorted((c.get("type", ""), c.get("status", "")) for c in status.get("conditions") or [])
        spec = n.get("spec") or {}
        return (status.get("allocatable"), (n.get("metadata") or {}).get("labels"), spec.get("taints"),
                bool(spec.get("unschedulable")), conditions)
    return view(old) != view(new)


def _pod_ref(pod: Obj) -> Obj:
    """The object an Event is about (list items carry no kind)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}}


class Scheduler:
    def __init__(self, client: Client, *, name: str = DEFAULT_SCHEDULER_NAME, backoff_base: float = 1.0,
                 backoff_cap: float = 10.0, registry: plugin_registry.Registry | None = None,
                 plugins: tuple[str, ...] = plugin_registry.DEFAULT_PLUGINS,
                 weights: dict[str, int] | None = None, bind_concurrency: int = 64,
                 seed: int | None = None) -> None:
        self.client = client
        self.name = name
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue(backoff_base=backoff_base, backoff_cap=backoff_cap)
        reg = registry or plugin_registry.default_registry()
        self.framework = runtime.Framework(reg.build(plugins), weights or plugin_registry.DEFAULT_WEIGHTS)
        self.events = EventRecorder(client, name)
        self.pods = Informer(client, "pods")
        self.nodes = Informer(client, "nodes")
        self.pods.add_handler(Handler(self._pod_added, self._pod_updated, self._pod_deleted))
        self.nodes.add_handler(Handler(self._node_added, self._node_updated, self._node_deleted))
        self._rng = random.Random(seed)
        self._next_start = 0
        self._binds: set[asyncio.Task[None]] = set()
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self.scheduled = 0
        self.failed = 0

    # -- informer handlers (no I/O) -------------------------------------------------------

    def responsible_for(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.name

    def _pending(self, pod: Obj) -> bool:
        return (not (pod.get("spec") or {}).get("nodeName") and not (pod.get("metadata") or {}).get("deletionTimestamp")
                and not is_terminal(pod) and self.responsible_for(pod))

    @staticmethod
    def _priority(pod: Obj) -> int:
        return int((pod.get("spec") or {}).get("priority") or 0)

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.add_pod(pod)
        elif self._pending(pod):
            self.queue.add(key_of(pod), self._priority(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        if (new.get("spec") or {}).get("nodeName"):
            if not (old.get("spec") or {}).get("nodeName"):
                self.queue.delete(key)
            finished = is_terminal(new) and not is_terminal(old)
            self.cache.update_pod(old, new)
            if finished:
                self.queue.move_all()
        elif self._pending(new):
            self.queue.update(key, old, new, self._priority(new))
        else:
            self.queue.delete(key)

    def _pod_deleted(self, pod: Obj) -> None:
        self.queue.delete(key_of(pod))
        if self.cache.remove_pod(pod):
            self.queue.move_all()

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if node_changed(old, new):
            self.queue.move_all()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node)

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch, schedule and bind until cancelled."""
        tasks = [asyncio.create_task(self.nodes.run(), name="scheduler-nodes"),
                 asyncio.create_task(self.pods.run(), name="scheduler-pods")]
        try:
            await asyncio.gather(self.nodes.synced.wait(), self.pods.synced.wait())
            log.info("%s: caches synced (%d nodes)", self.name, len(self.cache.node_list()))
            while True:
                key, cycle = await self.queue.pop()
                self.schedule_one(key, cycle)
                await asyncio.sleep(0)  # let informers and bindings run between cycles
        finally:
            self.queue.close()
            for t in [*tasks, *self._binds]:
                t.cancel()
            for t in [*tasks, *self._binds]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def schedule_one(self, key: str, cycle: int) -> str:
        """One scheduling cycle for the pod at ``key``; the node chosen, or ""."""
        pod = self.pods.get_key(key)
        if pod is None or not self._pending(pod):
            self.queue.delete(key)
            return ""
        info = PodInfo.of(pod)
        if self.cache.is_assumed(info.uid):
            return ""
        nodes = self.cache.node_list()
        if not nodes:
            self._unschedulable(pod, key, cycle, ERR_NO_NODES_AVAILABLE)
            return ""
        decision = runtime.schedule_pod(self.framework, info, nodes, rng=self._rng, start=self._next_start)
        self._next_start = (self._next_start + decision.evaluated) % len(nodes)
        if decision.fit_error is not None:
            self._unschedulable(pod, key, cycle, decision.fit_error.message)
            return ""
        self.cache.assume(info, decision.node)
        self.queue.done(key)
        task = asyncio.create_task(self._bind(pod, info, decision.node))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)
        return decision.node

    def _unschedulable(self, pod: Obj, key: str, cycle: int, message: str) -> None:
        self.failed += 1
        self.queue.unschedulable(key, cycle)
        self.events.record(_pod_ref(pod), "Warning", "FailedScheduling", message)
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), None)
        if current and (current.get("status"), current.get("reason"), current.get("message")) == (
                "False", "Unschedulable", message):
            return
        task = asyncio.create_task(self._set_unschedulable(pod, message, current))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)

    async def _set_unschedulable(self, pod: Obj, message: str, current: Obj | None) -> None:
        m = pod["metadata"]
        transition = current.get("lastTransitionTime") if current and current.get("status") == "False" else None
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": transition or meta.now()}
        try:
            await self.client.patch("pods", m["name"], {"status": {"conditions": [condition]}}, m.get("namespace"),
                                    patch_type="strategic", subresource="status", field_manager=self.name)
        except errors.APIError as exc:
            log.info("%s: cannot update the status of %s/%s: %s", self.name, m.get("namespace"), m["name"], exc)

    async def _bind(self, pod: Obj, info: PodInfo, node: str) -> None:
        async with self._bind_slots:
            try:
                await self.client.bind(info.namespace, info.name, node, uid=info.uid)
            except errors.APIError as exc:
                self.cache.forget(info.uid)
                self.queue.move_all()  # the resources it held are free again
                if isinstance(exc, errors.NotFound):
                    self.queue.delete(info.key)
                    return
                log.info("%s: binding %s to %s failed: %s", self.name, info.key, node, exc)
                current = self.pods.get_key(info.key)
                if current is not None and self._pending(current):
                    self.queue.backoff(info.key)
                    self.events.record(_pod_ref(pod), "Warning", "FailedScheduling", f"Binding rejected: {exc}")
                return
        self.scheduled += 1
        self.events.record(_pod_ref(pod), "Normal", "Scheduled",
                           f"Successfully assigned {info.namespace}/{info.name} to {node}")

    async def wait_idle(self) -> None:
        """Wait for the bindings and status updates in flight (tests)."""
        while self._binds:
            await asyncio.gather(*list(self._binds), return_exceptions=True)
        await self.events.flush()
