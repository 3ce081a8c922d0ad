"""The Service strategy.

Service defaults follow ``SetDefaults_Service`` and the service registry: ``type:
ClusterIP``, ``sessionAffinity: None``, port ``protocol: TCP`` and ``targetPort`` = ``port``,
``internalTrafficPolicy: Cluster``, ``externalTrafficPolicy: Cluster`` for externally reachable
types, ``allocateLoadBalancerNodePorts: true`` for LoadBalancer, ``clusterIPs`` kept in step
with ``clusterIP`` and, once a cluster IP is set (including ``None``), ``ipFamilyPolicy:
SingleStack`` and ``ipFamilies: [IPv4]`` (``IPv6`` for an IPv6 address). An unset
``clusterIP`` stays unset: allocation is the registry's.

Validation is ``ValidateService``/``ValidateServiceUpdate`` (ports, names, selectors,
affinity, IP fields, traffic policies; cluster IPs and IP families may not change once
set). :func:`carry_allocated` is the registry's update-time carry-over of allocated values
and the wiping of fields a type change makes moot.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import (
    KindStrategy,
    ensure_dict,
    get_dict,
    get_int,
    get_list,
    get_str,
)
from gitkube.apiserver.strategy.containers import validate_port_num_or_name
from gitkube.apiserver.strategy.meta import validate_label_name, validate_labels
from gitkube.errors import Cause

__all__ = [
    "STRATEGY",
    "carry_allocated",
    "default",
    "validate",
]

_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_MAX_AFFINITY_SECONDS = 86400


def _externally_accessible(spec: dict[str, Any]) -> bool:
    kind = get_str(spec, "type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(get_list(spec, "externalIPs")))


def _ip_family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def default(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if not get_str(spec, "sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = ensure_dict(ensure_dict(spec, "sessionAffinityConfig"), "clientIP")
        if client_ip.get("timeoutSeconds") is None:
            client_ip["timeoutSeconds"] = 10800
    if not get_str(spec, "type"):
        spec["type"] = "ClusterIP"
    for port in get_list(spec, "ports"):
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]
    kind = spec["type"]
    if _externally_accessible(spec) and not get_str(spec, "externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    cluster_ip = get_str(spec, "clusterIP")
    cluster_ips = [ip for ip in get_list(spec, "clusterIPs") if isinstance(ip, str)]
    if cluster_ip and spec.get("clusterIPs") in (None, []):
        spec["clusterIPs"] = [cluster_ip]
    elif not cluster_ip and cluster_ips:
        spec["clusterIP"] = cluster_ip = cluster_ips[0]
    if cluster_ip and kind != "ExternalName":
        if spec.get("ipFamilyPolicy") is None:
            spec["ipFamilyPolicy"] = "SingleStack"
        if spec.get("ipFamilies") in (None, []):
            spec["ipFamilies"] = ["IPv4" if cluster_ip == "None" else _ip_family(cluster_ip)]


def carry_allocated(obj: dict[str, Any], old: dict[str, Any]) -> None:
    """``patchAllocatedValues`` and ``dropTypeDependentFields`` of the service registry."""
    spec, old_spec = get_dict(obj, "spec"), get_dict(old, "spec")
    new_type = get_str(spec, "type") or "ClusterIP"
    old_type = get_str(old_spec, "type") or "ClusterIP"
    needs_ip_new, needs_ip_old = new_type != "ExternalName", old_type != "ExternalName"
    if needs_ip_new and needs_ip_old:
        if not get_str(spec, "clusterIP") and not get_list(spec, "clusterIPs"):
            for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if not spec.get(name) and old_spec.get(name):
                    spec[name] = copy.deepcopy(old_spec[name])
    if needs_ip_old and not needs_ip_new:
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(name) == old_spec.get(name):
                spec.pop(name, None)
    needs_np_new, needs_np_old = new_type in ("NodePort", "LoadBalancer"), old_type in ("NodePort", "LoadBalancer")
    if needs_np_new and needs_np_old:
        old_ports = {(get_str(p, "protocol") or "TCP", get_int(p, "port")): get_int(p, "nodePort")
                     for p in get_list(old_spec, "ports")}
        for port in get_list(spec, "ports"):
            if isinstance(port, dict) and not get_int(port, "nodePort"):
                allocated = old_ports.get((get_str(port, "protocol") or "TCP", get_int(port, "port")))
                if allocated:
                    port["nodePort"] = allocated
        if not get_int(spec, "healthCheckNodePort") and get_int(old_spec, "healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
    if needs_np_old and not needs_np_new:
        if [get_int(p, "nodePort") for p in get_list(spec, "ports")] == [
                get_int(p, "nodePort") for p in get_list(old_spec, "ports")]:
            for port in get_list(spec, "ports"):
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
    if old_type == "LoadBalancer" and new_type != "LoadBalancer":
        for name in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(name) == old_spec.get(name):
                spec.pop(name, None)
    if _externally_accessible(old_spec) and not _externally_accessible(spec):
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if new_type != "LoadBalancer" and isinstance(obj.get("status"), dict):
        obj["status"]["loadBalancer"] = {}


def _headless(spec: dict[str, Any]) -> bool:
    return get_list(spec, "clusterIPs") == ["None"]


def _validate_port(port: Any, require_name: bool, seen: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    name = get_str(port, "name")
    if require_name and not name:
        out.append(c.required(c.child(path, "name")))
    elif name:
        out += [c.invalid(c.child(path, "name"), name, m) for m in names.is_dns1123_label(name)]
        if name in seen:
            out.append(c.duplicate(c.child(path, "name"), name))
        seen.add(name)
    number = get_int(port, "port") or 0
    out += [c.invalid(c.child(path, "port"), number, m) for m in names.is_valid_port_num(number)]
    protocol = get_str(port, "protocol")
    if not protocol:
        out.append(c.required(c.child(path, "protocol")))
    elif protocol not in _PROTOCOLS:
        out.append(c.not_supported(c.child(path, "protocol"), protocol, _PROTOCOLS))
    out += validate_port_num_or_name(port.get("targetPort") if isinstance(port, dict) else None,
                                     c.child(path, "targetPort"))
    app_protocol = port.get("appProtocol") if isinstance(port, dict) else None
    if isinstance(app_protocol, str):
        out += validate_label_name(app_protocol, c.child(path, "appProtocol"))
    return out


def _validate_cluster_ips(spec: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    cluster_ip = get_str(spec, "clusterIP")
    ips = get_list(spec, "clusterIPs")
    if cluster_ip:
        if not ips:
            out.append(c.required("spec.clusterIPs"))
        elif ips[0] != cluster_ip:
            out.append(c.invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    elif ips:
        out.append(c.invalid("spec.clusterIPs", ips, "must be empty when `clusterIP` is not specified"))
    seen: set[str] = set()
    for i, family in enumerate(get_list(spec, "ipFamilies")):
        if family not in ("IPv4", "IPv6"):
            out.append(c.not_supported(c.index("spec.ipFamilies", i), family, ("IPv4", "IPv6")))
        if family in seen:
            out.append(c.duplicate(c.index("spec.ipFamilies", i), family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        out.append(c.not_supported("spec.ipFamilyPolicy", policy, ("PreferDualStack", "RequireDualStack", "SingleStack")))
    bad = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad = True
                out.append(c.invalid("spec.clusterIPs", ips, "'None' must be the first and only value"))
            continue
        msgs = names.is_valid_ip(ip if isinstance(ip, str) else "")
        bad = bad or bool(msgs)
        out += [c.invalid(c.index("spec.clusterIPs", i), ip, m) for m in msgs]
    if len(ips) > 2:
        out.append(c.invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    if bad:
        return out
    if len(ips) > 1 and len({_ip_family(ip) for ip in ips}) != len(ips):
        out.append(c.invalid("spec.clusterIPs", ips, "may specify no more than one IP for each IP family"))
    families = get_list(spec, "ipFamilies")
    if not _headless(spec):
        for i, (ip, family) in enumerate(zip(ips, families, strict=False)):
            if family in ("IPv4", "IPv6") and _ip_family(ip) != family:
                out.append(c.invalid(c.index("spec.clusterIPs", i), ip,
                                     f"expected an {family} value as indicated by `ipFamilies[{i}]`"))
    return out


def _validate_spec(spec: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    kind = get_str(spec, "type")
    ports = [p for p in get_list(spec, "ports")]
    headless = _headless(spec)
    if not ports and not headless and kind != "ExternalName":
        out.append(c.required("spec.ports"))
    if kind in ("LoadBalancer", "NodePort") and headless:
        out.append(c.invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        for name in ("clusterIPs", "ipFamilies"):
            if get_list(spec, name):
                out.append(c.forbidden(c.child("spec", name), "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            out.append(c.forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = get_str(spec, "externalName").removesuffix(".")
        if cname:
            out += [c.invalid("spec.externalName", cname, m) for m in names.is_dns1123_subdomain(cname)]
        else:
            out.append(c.required("spec.externalName"))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        out += _validate_port(port, len(ports) > 1, seen, c.index("spec.ports", i))
    if spec.get("selector") is not None:
        out += validate_labels(spec.get("selector"), "spec.selector")
    affinity = get_str(spec, "sessionAffinity")
    if not affinity:
        out.append(c.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        out.append(c.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    if affinity == "ClientIP":
        timeout = get_int(get_dict(get_dict(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds")
        if timeout is None:
            out.append(c.required("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                  "when session affinity type is ClientIP"))
        elif not 0 < timeout <= _MAX_AFFINITY_SECONDS:
            out.append(c.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                 f"must be greater than 0 and less than {_MAX_AFFINITY_SECONDS}"))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        out.append(c.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    if kind != "ExternalName":
        out += _validate_cluster_ips(spec)
    for i, ip in enumerate(get_list(spec, "externalIPs")):
        msgs = names.is_valid_ip(ip if isinstance(ip, str) else "")
        out += [c.invalid(c.index("spec.externalIPs", i), ip, m) for m in msgs]
        if not msgs and ipaddress.ip_address(ip).is_unspecified:
            out.append(c.invalid(c.index("spec.externalIPs", i), ip, f"may not be unspecified ({ip})"))
    if not kind:
        out.append(c.required("spec.type"))
    elif kind not in _TYPES:
        out.append(c.not_supported("spec.type", kind, _TYPES))
    node_ports: set[tuple[str, int]] = set()
    port_keys: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = get_int(port, "nodePort") or 0
        ppath = c.index("spec.ports", i)
        if kind == "ClusterIP" and node_port:
            out.append(c.forbidden(c.child(ppath, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
        if node_port:
            if (get_str(port, "protocol"), node_port) in node_ports:
                out.append(c.duplicate(c.child(ppath, "nodePort"), node_port))
            node_ports.add((get_str(port, "protocol"), node_port))
        port_key = (get_str(port, "protocol"), get_int(port, "port") or 0)
        if port_key in port_keys:
            out.append(c.duplicate(ppath, {"port": port_key[1], "protocol": port_key[0]}))
        port_keys.add(port_key)
    ranges = get_list(spec, "loadBalancerSourceRanges")
    if ranges:
        if kind != "LoadBalancer":
            out.append(c.forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
        for i, cidr in enumerate(ranges):
            value = cidr.strip() if isinstance(cidr, str) else ""
            out += [c.invalid(c.index("spec.LoadBalancerSourceRanges", i), value, m) for m in names.is_valid_cidr(value)]
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        out.append(c.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        out.append(c.required("allocateLoadBalancerNodePorts"))
    lb_class = spec.get("loadBalancerClass")
    if isinstance(lb_class, str):
        if kind == "LoadBalancer":
            out += validate_label_name(lb_class, "spec.loadBalancerClass")
        else:
            out.append(c.forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    out += _traffic_policies(spec)
    return out


def _traffic_policies(spec: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    kind = get_str(spec, "type")
    external = get_str(spec, "externalTrafficPolicy")
    if not _externally_accessible(spec):
        if external:
            out.append(c.invalid("spec.externalTrafficPolicy", external, "may only be set for externally-accessible services"))
    elif not external:
        out.append(c.required("spec.externalTrafficPolicy"))
    elif external not in ("Cluster", "Local"):
        out.append(c.not_supported("spec.externalTrafficPolicy", external, ("Cluster", "Local")))
    health = get_int(spec, "healthCheckNodePort") or 0
    needs_health = kind == "LoadBalancer" and external == "Local"
    if not needs_health and health:
        out.append(c.invalid("spec.healthCheckNodePort", health,
                             "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        out.append(c.required("spec.internalTrafficPolicy"))
    if internal is not None and internal not in ("Cluster", "Local"):
        out.append(c.not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local")))
    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        out.append(c.not_supported("spec.trafficDistribution", distribution, ("PreferClose",)))
    return out


def _validate_update(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    if "ExternalName" in (get_str(spec, "type"), get_str(old_spec, "type")):
        return out
    new_headless, old_headless = _headless(spec), _headless(old_spec)
    new_ips, old_ips = get_list(spec, "clusterIPs"), get_list(old_spec, "clusterIPs")
    if not (new_headless and old_headless):
        if len(new_ips) == len(old_ips):
            for i, ip in enumerate(old_ips):
                if ip != new_ips[i]:
                    out.append(c.invalid(c.index("spec.clusterIPs", i), new_ips, "may not change once set"))
        elif len(old_ips) > len(new_ips):
            if not new_ips:
                out.append(c.invalid("spec.clusterIPs[0]", new_ips, "primary clusterIP can not be unset"))
            elif new_ips[0] != old_ips[0]:
                out.append(c.invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
            if len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
                out.append(c.invalid("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"),
                                     "must be set to 'SingleStack' when releasing the secondary clusterIP"))
        elif old_ips and new_ips[0] != old_ips[0]:
            out.append(c.invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
    if new_headless == old_headless and not new_headless:
        new_fam, old_fam = get_list(spec, "ipFamilies"), get_list(old_spec, "ipFamilies")
        if len(new_fam) == len(old_fam):
            if new_fam != old_fam:
                out.append(c.invalid("spec.ipFamilies[0]", new_fam, "may not change once set"))
        elif old_fam and new_fam and new_fam[0] != old_fam[0]:
            out.append(c.invalid("spec.ipFamilies[0]", new_ips, "may not change once set"))
    if get_str(spec, "type") == get_str(old_spec, "type") == "LoadBalancer":
        if spec.get("loadBalancerClass") != old_spec.get("loadBalancerClass"):
            out.append(c.invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"), "may not change once set"))
    return out


def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    if old is not None:
        out += _validate_update(spec, get_dict(old, "spec"))
    return out + _validate_spec(spec)


STRATEGY = KindStrategy(name_fn=names.name_is_dns1035_label, default=default, validate=validate)
