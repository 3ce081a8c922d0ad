"""Pod and Node dicts for the scheduler tests."""

from __future__ import annotations

from typing import Any

from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo


def pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None, uid: str | None = None,
        host_ports: list[int] | None = None, tolerations: list[dict[str, Any]] | None = None,
        node_selector: dict[str, str] | None = None, affinity: dict[str, Any] | None = None,
        owner: str | None = None, node_name: str | None = None, **spec: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": "img"}
    if requests:
        container["resources"] = {"requests": requests}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p, "protocol": "TCP"} for p in host_ports]
    body: dict[str, Any] = {"containers": [container], **spec}
    if tolerations is not None:
        body["tolerations"] = tolerations
    if node_selector is not None:
        body["nodeSelector"] = node_selector
    if affinity is not None:
        body["affinity"] = affinity
    if node_name:
        body["nodeName"] = node_name
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def node(name: str = "n", *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
         unschedulable: bool = False, extra: dict[str, str] | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"capacity": dict(alloc), "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def node_info(n: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    info = NodeInfo(n["metadata"]["name"])
    info.set_node(n)
    for p in pods:
        info.add_pod(PodInfo.of(p))
    return info
