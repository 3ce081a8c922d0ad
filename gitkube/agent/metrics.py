"""Resource metrics of this node and its pods, pushed to the API server's metrics.k8s.io view.

Every ``interval`` seconds (15 s by default, metrics-server's resolution) the reporter reads,
for each running container of each pod on the node, the CPU time and resident memory of its
process tree (``ContainerProcess.usage``, psutil), and the host's busy CPU time and used
memory. CPU usage is the rate between two samples (nanocores over the window, so a container
appears from its second sample on); memory is the working set, approximated by RSS (for the
node: total minus available). A pod is reported once all its running containers have a rate.

Samples become ``PodMetrics`` and ``NodeMetrics`` objects (labels copied from the pod and the
node, so ``kubectl top -l`` works) sent with PUT to ``metrics.k8s.io/v1beta1``; the API server
keeps them in memory (``gitkube.apiserver.metricsapi``). When a pod stops running here its
PodMetrics is deleted. Failures are logged and retried at the next tick.

Started by ``gitkube.agent.agent.NodeAgent.run`` (not in ``--simulated`` mode).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from gitkube import errors
from gitkube.agent.runtime_api import ContainerProcess
from gitkube.api import meta, scheme
from gitkube.client import Client

__all__ = ["DEFAULT_INTERVAL", "MetricsReporter", "PodSource", "format_window", "node_usage"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 15.0

Obj = dict[str, Any]
PodSource = Callable[[], list[tuple[Obj, dict[str, ContainerProcess]]]]
"""The pods running here: each pod object with its running container processes by name."""

_POD_METRICS = scheme.by_gvk(scheme.METRICS_GROUP, "v1beta1", "PodMetrics")
_NODE_METRICS = scheme.by_gvk(scheme.METRICS_GROUP, "v1beta1", "NodeMetrics")


def format_window(seconds: float) -> str:
    """A Go duration string as metrics-server writes windows: ``15s``, ``1.002s``."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text or '0'}s"


def node_usage() -> tuple[int, int]:
    """(busy CPU time of the host in nanoseconds, used memory in bytes)."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    busy = sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    mem = psutil.virtual_memory()
    return int(busy * 1e9), int(mem.total - mem.available)


@dataclass
class _Point:
    at: float
    cpu_ns: int


@dataclass
class _PodSample:
    pod: Obj
    containers: list[tuple[str, str, int, int]] = field(default_factory=list)  # name, id, cpu_ns, rss


class MetricsReporter:
    """Samples and pushes this node's metrics until cancelled."""

    def __init__(self, client: Client, node_name: str, pods: PodSource, *,
                 node_labels: Callable[[], Mapping[str, str]] = dict, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic,
                 node_sampler: Callable[[], tuple[int, int]] = node_usage) -> None:
        self.client = client
        self.node_name = node_name
        self.pods = pods
        self.node_labels = node_labels
        self.interval = interval
        self._clock = clock
        self._node_sampler = node_sampler
        self._last: dict[str, _Point] = {}  # container id or "node" -> previous sample
        self._reported: set[tuple[str, str]] = set()  # (namespace, name) with a PodMetrics pushed

    async def run(self) -> None:
        while True:
            try:
                await self.report_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("metrics: sampling failed")
            await asyncio.sleep(self.interval)

    def _sample(self, pods: list[tuple[Obj, dict[str, ContainerProcess]]]) -> tuple[float, list[_PodSample],
                                                                                    tuple[int, int]]:
        at = self._clock()
        node = self._node_sampler()
        samples: list[_PodSample] = []
        for pod, processes in pods:
            sample = _PodSample(pod)
            for name, process in sorted(processes.items()):
                if not process.running():
                    continue
                cpu_ns, rss = process.usage()
                sample.containers.append((name, process.spec.container_id, cpu_ns, rss))
            if sample.containers:
                samples.append(sample)
        return at, samples, node

    def _rate(self, key: str, at: float, cpu_ns: int) -> tuple[int, float] | None:
        """(nanocores, window seconds) since the previous sample of ``key``, None on the first."""
        previous = self._last.get(key)
        self._last[key] = _Point(at, cpu_ns)
        if previous is None or at <= previous.at or cpu_ns < previous.cpu_ns:
            return None  # first sample, or processes of the tree exited: start over
        window = at - previous.at
        return int((cpu_ns - previous.cpu_ns) / window), window

    def build(self, at: float, samples: list[_PodSample], node: tuple[int, int]) -> tuple[list[Obj], Obj | None]:
        """The PodMetrics and NodeMetrics for one round of samples (rates against the previous round)."""
        stamp = meta.format_time(dt.datetime.now(dt.UTC))
        seen: set[str] = {"node"}
        out: list[Obj] = []
        for sample in samples:
            containers: list[Obj] = []
            windows: list[float] = []
            complete = True
            for name, cid, cpu_ns, rss in sample.containers:
                seen.add(cid)
                rate = self._rate(cid, at, cpu_ns)
                if rate is None:
                    complete = False
                    continue
                windows.append(rate[1])
                containers.append({"name": name, "usage": {"cpu": f"{rate[0]}n", "memory": f"{rss // 1024}Ki"}})
            if not complete:
                continue
            m = sample.pod.get("metadata") or {}
            out.append({
                "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": m.get("name"), "namespace": m.get("namespace"),
                             "labels": dict(m.get("labels") or {})},
                "timestamp": stamp, "window": format_window(max(windows)), "containers": containers,
            })
        for key in [k for k in self._last if k not in seen]:
            del self._last[key]
        node_rate = self._rate("node", at, node[0])
        node_obj: Obj | None = None
        if node_rate is not None:
            node_obj = {
                "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": self.node_name, "labels": dict(self.node_labels())},
                "timestamp": stamp, "window": format_window(node_rate[1]),
                "usage": {"cpu": f"{node_rate[0]}n", "memory": f"{node[1] // 1024}Ki"},
            }
        return out, node_obj

    async def report_once(self) -> None:
        """Take one round of samples and push it; delete metrics of pods no longer here."""
        assert _POD_METRICS is not None and _NODE_METRICS is not None
        at, samples, node = await asyncio.to_thread(self._sample, self.pods())
        pod_objs, node_obj = self.build(at, samples, node)
        writes = [self.client.update(_POD_METRICS, obj) for obj in pod_objs]
        if node_obj is not None:
            writes.append(self.client.update(_NODE_METRICS, node_obj))
        for result in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(result, BaseException):
                log.warning("metrics: push failed: %s", result)
        running = {(str(s.pod["metadata"].get("namespace")), str(s.pod["metadata"].get("name"))) for s in samples}
        for ns, name in sorted(self._reported - running):
            try:
                await self.client.delete(_POD_METRICS, name, ns)
            except errors.NotFound:
                pass
            except errors.GitkubeError as exc:  # the entry expires on the server anyway
                log.warning("metrics: delete of %s/%s failed: %s", ns, name, exc)
        reported = {(str(o["metadata"]["namespace"]), str(o["metadata"]["name"])) for o in pod_objs}
        self._reported = (self._reported & running) | reported
