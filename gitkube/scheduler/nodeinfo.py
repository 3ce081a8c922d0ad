"""What the scheduler knows about one pod and one node, precomputed for fast cycles.

``PodInfo.of(pod)`` reads a Pod once: its effective requests (containers summed, each init
container's taken as a floor, restartable init containers added, plus ``spec.overhead``, as
``k8s.io/component-helpers/resource.PodRequests`` computes them), the non-zero requests the
scoring plugins use (100m CPU / 200Mi memory for a container that requests none), host
ports, tolerations, node selector and affinity, and the controller owner.

``NodeInfo`` aggregates a Node with the pods assigned (or assumed) to it: allocatable,
summed requests, used host ports and per-controller pod counts. The cache
(:mod:`gitkube.scheduler.cache`) updates it incrementally; plugins only read it. Pure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from gitkube.api import quantity

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "DEFAULT_PODS",
    "HostPort",
    "NodeInfo",
    "PodInfo",
    "Resource",
    "is_scalar_resource",
    "pod_requests",
]

Obj = dict[str, Any]
HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core, as the scheduler's util.DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200Mi, util.DefaultMemoryRequest
DEFAULT_PODS = 110


@functools.lru_cache(maxsize=4096)
def _milli(text: str | int | float) -> int:
    try:
        return quantity.parse_quantity(text).milli_value()
    except quantity.QuantityError:
        return 0


@functools.lru_cache(maxsize=4096)
def _value(text: str | int | float) -> int:
    try:
        return quantity.parse_quantity(text).int_value()
    except quantity.QuantityError:
        return 0


def is_scalar_resource(name: str) -> bool:
    """Extended resources (``example.com/gpu``), hugepages and attachable volumes: the
    resources besides cpu, memory, ephemeral-storage and pods that NodeResourcesFit checks."""
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return True
    # extended resources (``example.com/gpu``) and prefixed native ones (``kubernetes.io/x``)
    return "/" in name and not name.startswith("requests.")


class Resource:
    """Compute resources as integers: milli-CPU, bytes of memory and ephemeral storage,
    and integral scalar resources."""

    __slots__ = ("ephemeral", "memory", "milli_cpu", "scalars")

    def __init__(self, milli_cpu: int = 0, memory: int = 0, ephemeral: int = 0,
                 scalars: dict[str, int] | None = None) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral = ephemeral
        self.scalars: dict[str, int] = dict(scalars or {})

    @classmethod
    def from_list(cls, resources: dict[str, Any] | None) -> Resource:
        r = cls()
        for name, q in (resources or {}).items():
            if name == "cpu":
                r.milli_cpu += _milli(q)
            elif name == "memory":
                r.memory += _value(q)
            elif name == "ephemeral-storage":
                r.ephemeral += _value(q)
            elif is_scalar_resource(name):
                r.scalars[name] = r.scalars.get(name, 0) + _value(q)
        return r

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral += sign * other.ephemeral
        for name, v in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + sign * v

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral = max(self.ephemeral, other.ephemeral)
        for name, v in other.scalars.items():
            self.scalars[name] = max(self.scalars.get(name, 0), v)

    def copy(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral, self.scalars)

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral or any(self.scalars.values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return (self.milli_cpu, self.memory, self.ephemeral, {k: v for k, v in self.scalars.items() if v}) == (
            other.milli_cpu, other.memory, other.ephemeral, {k: v for k, v in other.scalars.items() if v})

    def __repr__(self) -> str:
        return f"Resource(milli_cpu={self.milli_cpu}, memory={self.memory}, ephemeral={self.ephemeral}, scalars={self.scalars})"


def _container_requests(c: Obj, non_zero: bool) -> Resource:
    requests = (c.get("resources") or {}).get("requests") or {}
    r = Resource.from_list(requests)
    if non_zero:
        if "cpu" not in requests:
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(pod: Obj, *, non_zero: bool = False) -> Resource:
    """The pod's effective requests as the scheduler counts them; ``non_zero`` substitutes
    the default CPU and memory requests for containers that set none (scoring only)."""
    spec = pod.get("spec") or {}
    total = Resource()
    for c in spec.get("containers") or []:
        total.add(_container_requests(c, non_zero))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or []:
        req = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            sidecars.add(req)
            current = sidecars.copy()
        else:
            current = req
            current.add(sidecars)
        init_max.set_max(current)
    total.add(sidecars)
    total.set_max(init_max)
    if spec.get("overhead"):
        total.add(Resource.from_list(spec["overhead"]))
    return total


def _host_ports(spec: Obj) -> tuple[HostPort, ...]:
    ports: list[HostPort] = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for p in c.get("ports") or []:
            hp = int(p.get("hostPort") or 0)
            if hp > 0:
                ports.append((str(p.get("hostIP") or "0.0.0.0"), str(p.get("protocol") or "TCP"), hp))
    return tuple(ports)


@dataclass(eq=False)
class PodInfo:
    """One pod, parsed once per scheduling attempt (or per cache add)."""

    pod: Obj
    uid: str
    namespace: str
    name: str
    requests: Resource
    non_zero_cpu: int
    non_zero_memory: int
    host_ports: tuple[HostPort, ...]
    tolerations: tuple[Obj, ...]
    node_selector: dict[str, str]
    affinity: Obj
    owner_uid: str
    priority: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        m = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        non_zero = pod_requests(pod, non_zero=True)
        owner = next((r for r in m.get("ownerReferences") or [] if r.get("controller")), None)
        return cls(
            pod=pod, uid=str(m.get("uid", "")), namespace=str(m.get("namespace", "")), name=str(m.get("name", "")),
            requests=pod_requests(pod), non_zero_cpu=non_zero.milli_cpu, non_zero_memory=non_zero.memory,
            host_ports=_host_ports(spec), tolerations=tuple(spec.get("tolerations") or ()),
            node_selector=dict(spec.get("nodeSelector") or {}),
            affinity=dict((spec.get("affinity") or {}).get("nodeAffinity") or {}),
            owner_uid=str(owner.get("uid", "")) if owner else "", priority=int(spec.get("priority") or 0),
            labels=dict(m.get("labels") or {}),
        )


class NodeInfo:
    """A node and the pods on it (assigned or assumed), with running sums."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.taints: tuple[Obj, ...] = ()
        self.unschedulable = False
        self.deleting = False
        self.allocatable = Resource()
        self.allowed_pods = DEFAULT_PODS
        self.requested = Resource()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.used_ports: dict[HostPort, int] = {}
        self.owner_counts: dict[str, int] = {}
        self.generation = 0

    def set_node(self, node: Obj) -> None:
        m = node.get("metadata") or {}
        spec = node.get("spec") or {}
        alloc = dict((node.get("status") or {}).get("allocatable") or {})
        self.node = node
        self.labels = dict(m.get("labels") or {})
        self.taints = tuple(spec.get("taints") or ())
        self.unschedulable = bool(spec.get("unschedulable"))
        self.deleting = bool(m.get("deletionTimestamp"))
        self.allocatable = Resource.from_list(alloc)
        self.allowed_pods = _value(alloc["pods"]) if "pods" in alloc else DEFAULT_PODS
        self.generation += 1

    def add_pod(self, info: PodInfo) -> None:
        if info.uid in self.pods:
            self.remove_pod(info.uid)
        self.pods[info.uid] = info
        self._account(info, 1)

    def remove_pod(self, uid: str) -> PodInfo | None:
        info = self.pods.pop(uid, None)
        if info is not None:
            self._account(info, -1)
        return info

    def _account(self, info: PodInfo, sign: int) -> None:
        self.requested.add(info.requests, sign)
        self.non_zero_cpu += sign * info.non_zero_cpu
        self.non_zero_memory += sign * info.non_zero_memory
        for port in info.host_ports:
            count = self.used_ports.get(port, 0) + sign
            if count > 0:
                self.used_ports[port] = count
            else:
                self.used_ports.pop(port, None)
        if info.owner_uid:
            count = self.owner_counts.get(info.owner_uid, 0) + sign
            if count > 0:
                self.owner_counts[info.owner_uid] = count
            else:
                self.owner_counts.pop(info.owner_uid, None)
        self.generation += 1

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)}, requested={self.requested!r})"
