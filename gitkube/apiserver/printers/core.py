"""Printers for the core/v1 kinds other than Pod, ported from Kubernetes 1.32 ``printers.go``.

Namespace (STATUS), Service (TYPE CLUSTER-IP EXTERNAL-IP PORT(S) | SELECTOR), Endpoints,
ConfigMap (DATA), Secret (TYPE DATA), ServiceAccount (SECRETS), ResourceQuota (REQUEST
LIMIT), Node (STATUS ROLES AGE VERSION | INTERNAL-IP ...), Event (the ``kubectl get events``
layout) and LimitRange, which has no printer in Kubernetes and so gets the API server's
default table (``Name`` and a ``Created At`` date).

Where Kubernetes prints a field that its defaulting or v1->internal conversion always fills
(Service ``type``/``protocol``/``clusterIPs``, Secret ``type``, Namespace ``phase``), a
missing field prints as that default, so an object stored without defaults still prints
as it would on a real server. Used through ``gitkube.apiserver.printers.PRINTERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer, describe
from gitkube.apiserver.printers.format import (
    age_since,
    format_labels,
    parse_time,
    quantity_string,
    rfc3339,
    translate_timestamp_since,
)

__all__ = [
    "CONFIGMAP",
    "ENDPOINTS",
    "EVENT",
    "LIMITRANGE",
    "NAMESPACE",
    "NODE",
    "RESOURCEQUOTA",
    "SECRET",
    "SERVICE",
    "SERVICEACCOUNT",
]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return translate_timestamp_since(_meta(obj).get("creationTimestamp"), now)


# --- Namespace -----------------------------------------------------------------------------


def _namespace(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    phase = (obj.get("status") or {}).get("phase") or "Active"
    return [_name(obj), str(phase), _age(obj, now)]


NAMESPACE = Printer(
    columns=(NAME, Column("Status", description="The status of the namespace"), AGE),
    row=_namespace,
)


# --- Service -------------------------------------------------------------------------------


def _load_balancer_ingress(status: Mapping[str, Any] | None) -> str:
    """``loadBalancerStatusStringer`` with wide=true: sorted unique IPs or hostnames."""
    found: set[str] = set()
    for ingress in (status or {}).get("ingress") or []:
        if ingress.get("ip"):
            found.add(str(ingress["ip"]))
        elif ingress.get("hostname"):
            found.add(str(ingress["hostname"]))
    return ",".join(sorted(found))


def _external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    kind = spec.get("type") or "ClusterIP"
    external: list[str] = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb_ips = _load_balancer_ingress(status.get("loadBalancer"))
        if external:
            return ",".join((lb_ips.split(",") if lb_ips else []) + external)
        return lb_ips or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _ports(ports: list[Mapping[str, Any]]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        node_port = int(port.get("nodePort") or 0)
        if node_port > 0:
            pieces.append(f"{int(port.get('port') or 0)}:{node_port}/{protocol}")
        else:
            pieces.append(f"{int(port.get('port') or 0)}/{protocol}")
    return ",".join(pieces)


def _service(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    internal_ip = str(cluster_ips[0]) if cluster_ips else "<none>"
    return [
        _name(obj),
        str(spec.get("type") or "ClusterIP"),
        internal_ip,
        _external_ip(spec, status),
        _ports(spec.get("ports") or []) or "<none>",
        _age(obj, now),
        format_labels(spec.get("selector")),
    ]


SERVICE = Printer(
    columns=(
        NAME,
        Column("Type", description=describe("ServiceSpec.type")),
        Column("Cluster-IP", description=describe("ServiceSpec.clusterIP")),
        Column("External-IP", description=describe("ServiceSpec.externalIPs")),
        Column("Port(s)", description=describe("ServiceSpec.ports")),
        AGE,
        Column("Selector", priority=1, description=describe("ServiceSpec.selector")),
    ),
    row=_service,
)


# --- Endpoints -----------------------------------------------------------------------------


def _join_host_port(host: str, port: int) -> str:
    """``net.JoinHostPort``: IPv6 hosts get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_endpoints(obj: Mapping[str, Any]) -> str:
    """``formatEndpoints`` with all ports: at most three ``ip:port``, then ``+ N more...``."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit = 3
    more = False
    count = 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(str(address.get("ip") or ""))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_join_host_port(str(address.get("ip") or ""), int(port.get("port") or 0)))
    text = ",".join(shown)
    if more:
        return f"{text} + {count - limit} more..."
    return text


ENDPOINTS = Printer(
    columns=(NAME, Column("Endpoints", description=describe("Endpoints.subsets")), AGE),
    row=lambda obj, now: [_name(obj), _format_endpoints(obj), _age(obj, now)],
)


# --- ConfigMap, Secret, ServiceAccount ---------------------------------------------------------


CONFIGMAP = Printer(
    columns=(NAME, Column("Data", description=describe("ConfigMap.data")), AGE),
    row=lambda obj, now: [
        _name(obj),
        len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
        _age(obj, now),
    ],
)


def _secret(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    # stringData is merged into data on write; count the union in case it was stored as sent.
    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    return [_name(obj), str(obj.get("type") or "Opaque"), len(keys), _age(obj, now)]


SECRET = Printer(
    columns=(
        NAME,
        Column("Type", description=describe("Secret.type")),
        Column("Data", description=describe("Secret.data")),
        AGE,
    ),
    row=_secret,
)

SERVICEACCOUNT = Printer(
    columns=(NAME, Column("Secrets", description=describe("ServiceAccount.secrets")), AGE),
    row=lambda obj, now: [_name(obj), len(obj.get("secrets") or []), _age(obj, now)],
)


# --- ResourceQuota, LimitRange -------------------------------------------------------------------


def _quota(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    status = obj.get("status") or {}
    hard: Mapping[str, Any] = status.get("hard") or {}
    used: Mapping[str, Any] = status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        pieces = resource.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        used_text = quantity_string(used[resource]) if resource in used else "0"
        target.append(f"{resource}: {used_text}/{quantity_string(hard[resource])}")
    return [_name(obj), ", ".join(requests), ", ".join(limits), _age(obj, now)]


RESOURCEQUOTA = Printer(
    columns=(
        NAME,
        Column(
            "Request",
            description="Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column(
            "Limit",
            description="Limits control the maximum amount of cpu/memory that a container may use independent "
            "of contention on the node.",
        ),
        AGE,
    ),
    row=_quota,
)

LIMITRANGE = Printer(
    columns=(NAME, Column("Created At", type="date", description=describe("ObjectMeta.creationTimestamp"))),
    row=lambda obj, now: [_name(obj), rfc3339(_meta(obj).get("creationTimestamp"))],
)


# --- Node ----------------------------------------------------------------------------------


def _node_address(status: Mapping[str, Any], kind: str) -> str:
    for address in status.get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address") or "")
    return "<none>"


def _node_roles(labels: Mapping[str, Any]) -> str:
    roles: set[str] = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    status = obj.get("status") or {}
    by_type = {c.get("type"): c for c in status.get("conditions") or []}
    states: list[str] = []
    ready = by_type.get("Ready")
    if ready is not None:
        states.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return [
        _name(obj),
        ",".join(states),
        _node_roles(_meta(obj).get("labels") or {}),
        _age(obj, now),
        str(info.get("kubeletVersion") or ""),
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


NODE = Printer(
    columns=(
        NAME,
        Column("Status", description="The status of the node"),
        Column("Roles", description="The roles of the node"),
        AGE,
        Column("Version", description=describe("NodeSystemInfo.kubeletVersion")),
        Column("Internal-IP", priority=1, description=describe("NodeStatus.addresses")),
        Column("External-IP", priority=1, description=describe("NodeStatus.addresses")),
        Column("OS-Image", priority=1, description=describe("NodeSystemInfo.osImage")),
        Column("Kernel-Version", priority=1, description=describe("NodeSystemInfo.kernelVersion")),
        Column(
            "Container-Runtime", priority=1, description=describe("NodeSystemInfo.containerRuntimeVersion")
        ),
    ),
    row=_node,
)


# --- Event ---------------------------------------------------------------------------------


def _event_source(obj: Mapping[str, Any]) -> str:
    """``formatEventSource``: component (or reportingController), then ``, host`` when known."""
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingController") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return str(component) if not instance else f"{component}, {instance}"


def _event(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    first = parse_time(obj.get("firstTimestamp")) or parse_time(obj.get("eventTime"))
    first_seen = age_since(first, now)
    last = parse_time(obj.get("lastTimestamp"))
    last_seen = age_since(last, now) if last else first_seen
    count = int(obj.get("count") or 0)
    series = obj.get("series")
    if series is not None:
        last_seen = translate_timestamp_since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [
        last_seen,
        str(obj.get("type") or ""),
        str(obj.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        _event_source(obj),
        str(obj.get("message") or "").strip(),
        first_seen,
        count,
        _name(obj),
    ]


EVENT = Printer(
    columns=(
        Column("Last Seen", description=describe("Event.lastTimestamp")),
        Column("Type", description=describe("Event.type")),
        Column("Reason", description=describe("Event.reason")),
        Column("Object", description=describe("Event.involvedObject")),
        Column("Subobject", priority=1, description=describe("ObjectReference.fieldPath")),
        Column("Source", priority=1, description=describe("Event.source")),
        Column("Message", description=describe("Event.message")),
        Column("First Seen", priority=1, description=describe("Event.firstTimestamp")),
        Column("Count", priority=1, description=describe("Event.count")),
        Column("Name", priority=1, format="name", description=describe("ObjectMeta.name")),
    ),
    row=_event,
)
