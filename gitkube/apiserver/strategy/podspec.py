"""PodSpec and PodTemplateSpec validation (``ValidatePodSpec``, ``ValidatePodTemplateSpec``).

:func:`validate_pod_spec` runs every PodSpec rule: volumes, containers and init containers,
restart and DNS policies, node selector, security context, affinity, tolerations, topology
spread, DNS config, host aliases, names of the service account, node, priority and runtime
classes. :func:`validate_pod_template_spec` adds the template's labels and annotations and
forbids ephemeral containers; the workload strategies (Deployment, Job, ...) call it and
then add their own restart-policy rule. :func:`default_pod_template` defaults a template.

Pure; called by the pod, apps and batch strategies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import ensure_dict, get_dict, get_int, get_list, get_str, is_int
from gitkube.apiserver.strategy.containers import validate_containers, validate_init_containers
from gitkube.apiserver.strategy.meta import validate_annotations, validate_label_name, validate_labels
from gitkube.apiserver.strategy.pod_defaults import default_pod_spec
from gitkube.apiserver.strategy.resources import parse_list, validate_container_resource_name
from gitkube.apiserver.strategy.scheduling import (
    validate_affinity,
    validate_tolerations,
    validate_topology_spread,
)
from gitkube.apiserver.strategy.volumes import validate_volumes
from gitkube.errors import Cause

__all__ = [
    "RESTART_POLICIES",
    "default_pod_template",
    "validate_pod_annotations",
    "validate_pod_spec",
    "validate_pod_template_spec",
]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_MAX_INT32 = 2**31 - 1
_MAX_ID = 0xFFFFFFFF
_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def default_pod_template(template: Any) -> None:
    """Default the PodSpec of a PodTemplateSpec (its metadata gets nothing)."""
    if isinstance(template, dict):
        default_pod_spec(ensure_dict(template, "spec"))


def validate_pod_annotations(annotations: Any, spec: Any, path: str) -> list[Cause]:
    """``ValidatePodSpecificAnnotations``: mirror-pod and pod-deletion-cost annotations."""
    out: list[Cause] = []
    if not isinstance(annotations, dict):
        return out
    mirror = annotations.get("kubernetes.io/config.mirror")
    if isinstance(mirror, str) and not get_str(spec, "nodeName"):
        out.append(c.invalid(c.key(path, "kubernetes.io/config.mirror"), mirror,
                             "must set spec.nodeName if mirror pod annotation is set"))
    cost = annotations.get(_DELETION_COST)
    if isinstance(cost, str):
        try:
            ok = str(int(cost, 10)) == cost.lstrip("+") and -(2**31) <= int(cost) < 2**31
        except ValueError:
            ok = False
        if not ok:
            out.append(c.invalid(c.key(path, _DELETION_COST), cost, "must be a 32bit integer"))
    return out


def _pod_security_context(sc: Any, spec: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(sc, dict):
        return out
    for name, range_msg in (("fsGroup", True), ("runAsUser", True), ("runAsGroup", True)):
        value = get_int(sc, name)
        if range_msg and value is not None and not 0 <= value <= _MAX_ID:
            out.append(c.invalid(c.child(path, name), value, names.inclusive_range_error(0, _MAX_ID)))
    for i, gid in enumerate(get_list(sc, "supplementalGroups")):
        if is_int(gid) and not 0 <= gid <= _MAX_ID:
            out.append(c.invalid(c.index(c.child(path, "supplementalGroups"), i), gid,
                                 names.inclusive_range_error(0, _MAX_ID)))
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        out.append(c.invalid(c.child(path, "shareProcessNamespace"), True,
                             "ShareProcessNamespace and HostPID cannot both be enabled"))
    seen: set[str] = set()
    for i, sysctl in enumerate(get_list(sc, "sysctls")):
        spath = c.child(c.index(c.child(path, "sysctls"), i), "name")
        name = get_str(sysctl, "name")
        if not name:
            out.append(c.required(spath))
        elif name in seen:
            out.append(c.duplicate(spath, name))
        seen.add(name)
    policy = sc.get("fsGroupChangePolicy")
    if isinstance(policy, str) and policy not in ("Always", "OnRootMismatch"):
        out.append(c.not_supported(c.child(path, "fsGroupChangePolicy"), policy, ("Always", "OnRootMismatch")))
    return out


def _dns_config(config: Any, policy: str, path: str) -> list[Cause]:
    out: list[Cause] = []
    if policy == "None":
        if not isinstance(config, dict):
            return [c.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not get_list(config, "nameservers"):
            return [c.required(c.child(path, "nameservers"),
                               "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if not isinstance(config, dict):
        return out
    servers = get_list(config, "nameservers")
    if len(servers) > 3:
        out.append(c.invalid(c.child(path, "nameservers"), servers, "must not have more than 3 nameservers"))
    for i, server in enumerate(servers):
        out += [c.invalid(c.index(c.child(path, "nameservers"), i), server, m)
                for m in names.is_valid_ip(server if isinstance(server, str) else "")]
    searches = [s for s in get_list(config, "searches") if isinstance(s, str)]
    if len(searches) > 32:
        out.append(c.invalid(c.child(path, "searches"), searches, "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        out.append(c.invalid(c.child(path, "searches"), searches,
                             "must not have more than 2048 characters (including spaces) in the search list"))
    for i, search in enumerate(searches):
        if search != ".":
            trimmed = search.removesuffix(".")
            out += [c.invalid(c.index(c.child(path, "searches"), i), trimmed, m)
                    for m in names.is_dns1123_subdomain(trimmed)]
    for i, option in enumerate(get_list(config, "options")):
        if not get_str(option, "name"):
            out.append(c.required(c.index(c.child(path, "options"), i), "must not be empty"))
    return out


def _named(spec: dict[str, Any], field: str, path: str, check: Any = names.name_is_dns_subdomain) -> list[Cause]:
    value = get_str(spec, field)
    return [c.invalid(c.child(path, field), value, m) for m in check(value, False)] if value else []


def validate_pod_spec(spec: Any, path: str, *, extra_volumes: Iterable[str] = (), is_pod: bool = False) -> list[Cause]:
    """``ValidatePodSpec``. ``extra_volumes`` are volume names provided from elsewhere
    (a StatefulSet's ``volumeClaimTemplates``); ``is_pod`` when the spec is a Pod's own."""
    out: list[Cause] = []
    if not isinstance(spec, dict):
        return [c.required(c.child(path, "containers"))]
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        out.append(c.required(c.child(path, "terminationGracePeriodSeconds")))
    elif is_int(grace) and grace < 0:
        out.append(c.invalid(c.child(path, "terminationGracePeriodSeconds"), grace, "must be greater than or equal to 0"))
    grace_value = grace if is_int(grace) else None
    volumes, errs = validate_volumes(spec.get("volumes"), c.child(path, "volumes"), is_pod=is_pod)
    out += errs
    volumes |= set(extra_volumes)
    out += validate_containers(spec.get("containers"), volumes, grace_value, c.child(path, "containers"))
    out += validate_init_containers(spec.get("initContainers"), spec.get("containers"), volumes, grace_value,
                                    c.child(path, "initContainers"))
    if spec.get("hostNetwork") is True:
        for i, ctr in enumerate(get_list(spec, "containers")):
            for j, port in enumerate(get_list(ctr, "ports")):
                host_port, container_port = get_int(port, "hostPort") or 0, get_int(port, "containerPort") or 0
                if host_port != 0 and host_port != container_port:
                    ppath = c.index(c.child(c.index(c.child(path, "containers"), i), "ports"), j)
                    out.append(c.invalid(c.child(ppath, "hostPort"), host_port,
                                         "must match `containerPort` when `hostNetwork` is true"))
    restart = get_str(spec, "restartPolicy")
    if not restart:
        out.append(c.required(c.child(path, "restartPolicy")))
    elif restart not in RESTART_POLICIES:
        out.append(c.not_supported(c.child(path, "restartPolicy"), restart, RESTART_POLICIES))
    dns = get_str(spec, "dnsPolicy")
    if not dns:
        out.append(c.required(c.child(path, "dnsPolicy")))
    elif dns not in _DNS_POLICIES:
        out.append(c.not_supported(c.child(path, "dnsPolicy"), dns, _DNS_POLICIES))
    out += validate_labels(spec.get("nodeSelector"), c.child(path, "nodeSelector"))
    out += _pod_security_context(spec.get("securityContext"), spec, c.child(path, "securityContext"))
    for i, secret in enumerate(get_list(spec, "imagePullSecrets")):
        if isinstance(secret, dict) and set(secret) - {"name"}:
            out.append(c.invalid(c.index(c.child(path, "imagePullSecrets"), i), secret, "only name may be set"))
    out += validate_affinity(spec.get("affinity"), c.child(path, "affinity"))
    out += _dns_config(spec.get("dnsConfig"), dns, c.child(path, "dnsConfig"))
    for i, gate in enumerate(get_list(spec, "readinessGates")):
        out += validate_label_name(get_str(gate, "conditionType"),
                                   c.child(c.index(c.child(path, "readinessGates"), i), "conditionType"))
    seen_gates: set[str] = set()
    for i, gate in enumerate(get_list(spec, "schedulingGates")):
        gpath = c.index(c.child(path, "schedulingGates"), i)
        out += validate_label_name(get_str(gate, "name"), gpath)
        if get_str(gate, "name") in seen_gates:
            out.append(c.duplicate(gpath, get_str(gate, "name")))
        seen_gates.add(get_str(gate, "name"))
    out += validate_topology_spread(spec.get("topologySpreadConstraints"), c.child(path, "topologySpreadConstraints"))
    out += _named(spec, "serviceAccountName", path)
    out += _named(spec, "nodeName", path)
    deadline = get_int(spec, "activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= _MAX_INT32:
        out.append(c.invalid(c.child(path, "activeDeadlineSeconds"), deadline,
                             names.inclusive_range_error(1, _MAX_INT32)))
    for field in ("hostname", "subdomain"):
        out += _named(spec, field, path, names.name_is_dns_label)
    out += validate_tolerations(spec.get("tolerations"), c.child(path, "tolerations"))
    for i, alias in enumerate(get_list(spec, "hostAliases")):
        apath = c.index(c.child(path, "hostAliases"), i)
        out += [c.invalid(c.child(apath, "ip"), get_str(alias, "ip"), m) for m in names.is_valid_ip(get_str(alias, "ip"))]
        for j, host in enumerate(get_list(alias, "hostnames")):
            if isinstance(host, str):
                out += [c.invalid(c.index(c.child(apath, "hostnames"), j), host, m)
                        for m in names.is_dns1123_subdomain(host)]
    out += _named(spec, "priorityClassName", path)
    out += _named(spec, "runtimeClassName", path)
    preemption = spec.get("preemptionPolicy")
    if isinstance(preemption, str) and preemption not in ("PreemptLowerPriority", "Never"):
        out.append(c.not_supported(c.child(path, "preemptionPolicy"), preemption, ("PreemptLowerPriority", "Never")))
    overhead, errs = parse_list(spec.get("overhead"), c.child(path, "overhead"))
    out += errs
    for name in overhead:
        out += validate_container_resource_name(name, c.key(c.child(path, "overhead", "limits"), name))
    os_name = get_dict(spec, "os").get("name")
    if isinstance(os_name, str) and os_name not in ("linux", "windows"):
        out.append(c.not_supported(c.child(path, "os", "name"), os_name, ("linux", "windows")))
    return out


def validate_pod_template_spec(template: Any, path: str, *, extra_volumes: Iterable[str] = ()) -> list[Cause]:
    """``ValidatePodTemplateSpec``: template labels/annotations, the PodSpec, no ephemeral containers."""
    if not isinstance(template, dict):
        return [c.required(path)]
    meta = get_dict(template, "metadata")
    spec = template.get("spec")
    out = validate_labels(meta.get("labels"), c.child(path, "labels"))
    out += validate_annotations(meta.get("annotations"), c.child(path, "annotations"))
    out += validate_pod_annotations(meta.get("annotations"), spec, c.child(path, "annotations"))
    out += validate_pod_spec(spec, c.child(path, "spec"), extra_volumes=extra_volumes)
    if get_list(spec, "ephemeralContainers"):
        out.append(c.forbidden(c.child(path, "spec", "ephemeralContainers"),
                               "ephemeral containers not allowed in pod template"))
    return out
