"""The node agent (gitkube's kubelet): registers the Node, heartbeats, runs bound pods.

``NodeAgent.run`` registers the Node (``gitkube.agent.node``), starts the heartbeat, and
watches the pods with ``spec.nodeName=<node>``, its own Node (for ``spec.podCIDR``) and
the Services (for the service environment variables). Informer handlers only enqueue pod
keys; the dispatcher gives each pod one ``PodWorker`` task (``gitkube.agent.podworker``),
hands it every new version, and tells it when the pod is gone. At start, pods already
bound here are adopted: their workers take over containers still running.

Cancelling ``run`` leaves the containers running so a restarted agent adopts them;
``shutdown_pods`` stops every pod's containers gracefully (``gitkube up``'s SIGTERM path).
Wired by ``gitkube.app`` (``gitkube up``, ``gitkube node run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitkube.agent import node as nodes
from gitkube.agent.ipam import PodIPAM
from gitkube.agent.metrics import DEFAULT_INTERVAL as DEFAULT_METRICS_INTERVAL
from gitkube.agent.metrics import MetricsReporter
from gitkube.agent.podworker import AgentContext, PodWorker
from gitkube.agent.runtime_api import ContainerProcess, Runtime
from gitkube.client import Client, EventRecorder, Handler, Informer, key_of

__all__ = ["NodeAgent"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SIMULATED_CIDR = "10.244.0.0/16"


class NodeAgent:
    def __init__(self, client: Client, runtime: Runtime, *, node_name: str, data_dir: Path,
                 capacity: Mapping[str, str] | None = None, simulated: bool = False, crashloop_base: float = 10.0,
                 crashloop_cap: float = 300.0, heartbeat_interval: float = 10.0, pod_cidr: str | None = None,
                 labels: Mapping[str, str] | None = None, metrics_interval: float = DEFAULT_METRICS_INTERVAL) -> None:
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.data_dir = Path(data_dir)
        self.capacity = dict(capacity or {})
        self.simulated = simulated
        self.pod_cidr = pod_cidr
        self.labels = dict(labels or {})
        self.heartbeat = nodes.Heartbeat(client, node_name, heartbeat_interval)
        self.events = EventRecorder(client, "kubelet", node_name)
        self.pods = Informer(client, "pods", field_selector=f"spec.nodeName={node_name}")
        self.node_informer = Informer(client, "nodes", field_selector=f"metadata.name={node_name}")
        self.services = Informer(client, "services")
        self.workers: dict[str, tuple[PodWorker, asyncio.Task[None]]] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._ipam: PodIPAM | None = None
        self._ipam_ready = asyncio.Event()
        self.ctx = AgentContext(
            client=client, runtime=runtime, events=self.events, node_name=node_name, host_ip=nodes.HOST_IP,
            data_dir=self.data_dir, ipam=self._get_ipam, services=lambda: self.services.list(),
            crashloop_base=crashloop_base, crashloop_cap=crashloop_cap, simulated=simulated)
        self.registered = asyncio.Event()
        self.metrics = MetricsReporter(client, node_name, self._running_pods, node_labels=self._node_labels,
                                       interval=metrics_interval)

    # -- ipam --------------------------------------------------------------------------

    async def _get_ipam(self) -> PodIPAM:
        await self._ipam_ready.wait()
        assert self._ipam is not None
        return self._ipam

    def _node_changed(self, obj: Obj) -> None:
        if self._ipam is not None:
            return
        spec = obj.get("spec") or {}
        cidr = spec.get("podCIDR") or (spec.get("podCIDRs") or [None])[0]
        if not cidr and self.simulated:
            cidr = SIMULATED_CIDR
        if not cidr:
            return
        ipam = PodIPAM(str(cidr))
        for pod in self.pods.list():  # addresses in use survive an agent restart
            status = pod.get("status") or {}
            if status.get("phase") not in ("Succeeded", "Failed") and status.get("podIP"):
                ipam.observe(str(pod["metadata"].get("uid")), str(status["podIP"]))
        self._ipam = ipam
        self._ipam_ready.set()
        self.ctx.node_allocatable = dict((obj.get("status") or {}).get("allocatable") or {})

    # -- metrics -----------------------------------------------------------------------

    def _running_pods(self) -> list[tuple[Obj, dict[str, ContainerProcess]]]:
        """Each pod worker's pod and running container processes (for the metrics reporter)."""
        out: list[tuple[Obj, dict[str, ContainerProcess]]] = []
        for worker, _task in self.workers.values():
            processes = {name: r.process for name, r in worker.runners.items() if r.process is not None}
            if processes and not worker.gone:
                out.append((worker.pod, processes))
        return out

    def _node_labels(self) -> dict[str, str]:
        node = self.node_informer.get(None, self.node_name)
        return dict(((node or {}).get("metadata") or {}).get("labels") or {})

    # -- dispatch ----------------------------------------------------------------------

    def _enqueue(self, obj: Obj) -> None:
        key = key_of(obj)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _dispatch(self, key: str) -> None:
        pod = self.pods.get_key(key)
        current = self.workers.get(key)
        if current is not None and (pod is None or pod["metadata"].get("uid") != current[0].uid):
            current[0].removed()
            del self.workers[key]
            current = None
        if pod is None:
            return
        if current is not None:
            current[0].update(pod)
            return
        worker = PodWorker(self.ctx, pod)
        task = asyncio.create_task(self._run_worker(key, worker), name=f"podworker-{key}")
        self.workers[key] = (worker, task)

    async def _run_worker(self, key: str, worker: PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod worker %s failed", key)
        finally:
            entry = self.workers.get(key)
            if entry is not None and entry[0] is worker:
                del self.workers[key]

    async def _dispatcher(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._dispatch(key)

    # -- run ---------------------------------------------------------------------------

    async def register(self) -> None:
        capacity = nodes.machine_capacity(self.data_dir, self.capacity)
        node = nodes.node_object(self.node_name, capacity=capacity, runtime_name=getattr(self.runtime, "name", "unknown"),
                                 pod_cidr=self.pod_cidr, extra_labels=self.labels)
        await nodes.register(self.client, node)
        self.registered.set()

    async def run(self) -> None:
        """Register, heartbeat and run the pods bound to this node until cancelled."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self.register()
        handler = Handler(on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new), on_delete=self._enqueue)
        node_handler = Handler(on_add=self._node_changed, on_update=lambda _old, new: self._node_changed(new))
        background = [asyncio.create_task(self.heartbeat.run(), name="heartbeat"),
                      asyncio.create_task(self.services.run(), name="agent-services"),
                      asyncio.create_task(self.pods.run(), name="agent-pods")]
        try:
            await asyncio.gather(self.pods.synced.wait(), self.services.synced.wait())
            self.node_informer.add_handler(node_handler)
            background.append(asyncio.create_task(self.node_informer.run(), name="agent-node"))
            if not self.simulated and self.metrics.interval > 0:
                background.append(asyncio.create_task(self.metrics.run(), name="agent-metrics"))
            self.pods.add_handler(handler)
            await self._dispatcher()
        finally:
            tasks = background + [t for _, t in self.workers.values()]
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self.workers.clear()

    async def shutdown_pods(self) -> None:
        """Stop the containers of every pod on this node gracefully (node shutdown)."""
        entries = list(self.workers.values())
        await asyncio.gather(*(w.shutdown() for w, _ in entries), return_exceptions=True)
        for _, task in entries:
            task.cancel()
        await self.events.flush()
