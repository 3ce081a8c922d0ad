"""The agent's Node object: registration and heartbeats, as the kubelet does them.

``node_object`` describes this machine: labels ``kubernetes.io/hostname`` and
``kubernetes.io/os``, capacity and allocatable from psutil (cpu, memory, ephemeral-storage,
110 pods) or the ``--capacity`` given, nodeInfo, addresses (InternalIP 127.0.0.1 and
Hostname) and the four conditions (MemoryPressure, DiskPressure, PIDPressure, Ready).
``register`` creates the Node or refreshes an existing one. ``Heartbeat`` renews the Lease
``<node>`` in ``kube-node-lease`` every interval (what the node lifecycle controller
watches) and the Ready condition's heartbeat time. Used by ``gitkube.agent.agent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from gitkube import errors
from gitkube.api import labels, meta
from gitkube.client import Client

__all__ = ["HOST_IP", "KUBELET_VERSION", "Heartbeat", "machine_capacity", "node_conditions", "node_object", "register"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
HOST_IP = "127.0.0.1"
KUBELET_VERSION = "v1.32.0"
LEASE_DURATION = 40

_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "KubeletReady", "kubelet is posting ready status"),
)


def machine_capacity(data_dir: Path, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """cpu, memory, ephemeral-storage and pods of this machine, overridden by ``given``."""
    disk = shutil.disk_usage(data_dir if data_dir.exists() else Path("/"))
    cap = {"cpu": str(psutil.cpu_count() or 1), "memory": f"{psutil.virtual_memory().total // 1024}Ki",
           "ephemeral-storage": f"{disk.total // 1024}Ki", "pods": "110"}
    cap.update({str(k): str(v) for k, v in (given or {}).items()})
    return cap


def node_conditions(previous: list[Obj] | None = None, now: str | None = None) -> list[Obj]:
    """The kubelet's four node conditions, all healthy, heartbeat ``now``."""
    now = now or meta.now()
    prev = {c.get("type"): c for c in previous or []}
    out = []
    for kind, reason, message in _CONDITIONS:
        status = "False" if kind != "Ready" else "True"
        old = prev.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else now
        out.append({"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": since,
                    "reason": reason, "message": message})
    return out


def _node_info(runtime_name: str) -> Obj:
    machine_id = ""
    with contextlib.suppress(OSError):
        machine_id = Path("/etc/machine-id").read_text().strip()
    boot_id = ""
    with contextlib.suppress(OSError):
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    os_image = "Linux"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_image = line.split("=", 1)[1].strip('"')
    return {"machineID": machine_id, "systemUUID": machine_id, "bootID": boot_id, "kernelVersion": platform.release(),
            "osImage": os_image, "containerRuntimeVersion": f"gitkube://{runtime_name}", "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": arch}


def node_object(name: str, *, capacity: Mapping[str, str], runtime_name: str, pod_cidr: str | None = None,
                extra_labels: Mapping[str, str] | None = None) -> Obj:
    """The Node this agent registers."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    node: Obj = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                                              "kubernetes.io/arch": arch, labels.LABEL_HOSTNAME: name,
                                              labels.LABEL_OS: "linux", **dict(extra_labels or {})},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {},
        "status": {
            "capacity": dict(capacity), "allocatable": dict(capacity), "conditions": node_conditions(),
            "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}, "nodeInfo": _node_info(runtime_name),
        },
    }
    if pod_cidr:
        node["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return node


async def register(client: Client, node: Obj) -> Obj:
    """Create the Node, or bring an existing one's labels, podCIDR and status up to date."""
    name = node["metadata"]["name"]
    try:
        await client.create("nodes", node)
    except errors.AlreadyExists:
        live = await client.get("nodes", name)
        patch: Obj = {"metadata": {"labels": node["metadata"]["labels"]}}
        if node["spec"].get("podCIDR") and not (live.get("spec") or {}).get("podCIDR"):
            patch["spec"] = node["spec"]
        await client.patch("nodes", name, patch)
    status = dict(node["status"])
    live = await client.get("nodes", name)
    status["conditions"] = node_conditions((live.get("status") or {}).get("conditions"))
    return await client.patch("nodes", name, {"status": status}, subresource="status")


def _micro_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Heartbeat:
    """Renews the node Lease and the Ready condition every ``interval`` seconds."""

    def __init__(self, client: Client, node_name: str, interval: float = 10.0) -> None:
        self.client = client
        self.node_name = node_name
        self.interval = interval
        self.renewals = 0

    async def renew_lease(self) -> None:
        name, ns = self.node_name, labels.LEASE_NAMESPACE
        spec = {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": _micro_time()}
        try:
            lease = await self.client.get("leases", name, ns)
        except errors.NotFound:
            node = await self.client.get("nodes", name)
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}
            await self.client.create("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner]},
                                                "spec": spec}, ns)
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        await self.client.update("leases", lease)

    async def renew_status(self) -> None:
        live = await self.client.get("nodes", self.node_name)
        conds = node_conditions((live.get("status") or {}).get("conditions"))
        await self.client.patch("nodes", self.node_name, {"status": {"conditions": conds}}, subresource="status")

    async def beat(self) -> None:
        await self.renew_lease()
        await self.renew_status()
        self.renewals += 1

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except errors.NotFound:
                log.warning("node %s is gone; heartbeats continue once it is registered again", self.node_name)
            except (errors.APIError, OSError) as exc:
                log.info("heartbeat of node %s failed: %s", self.node_name, exc)
            await asyncio.sleep(self.interval)
