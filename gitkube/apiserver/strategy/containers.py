"""Container validation: names, image, ports, env, mounts, probes, lifecycle, resources.

The functions here are ``validateContainers``, ``validateInitContainers`` and
``validateContainerCommon`` of ``pkg/apis/core/validation`` with their helpers, reporting
at the same paths with the same words (``spec.containers[0].ports[1].containerPort:
Invalid value: 70000: must be between 1 and 65535, inclusive``). Environment variable
names follow Kubernetes 1.32, where RelaxedEnvironmentVariableValidation is on: any
printable ASCII except ``=``.

Pure; called by :mod:`gitkube.apiserver.strategy.podspec`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import get_dict, get_int, get_list, get_str, is_int
from gitkube.apiserver.strategy.resources import validate_requirements
from gitkube.apiserver.strategy.volumes import (
    ENV_FIELD_PATHS,
    validate_local_descending_path,
    validate_object_field_selector,
    validate_resource_field_selector,
)
from gitkube.errors import Cause

__all__ = [
    "validate_containers",
    "validate_init_containers",
    "validate_port_num_or_name",
    "validate_security_context",
]

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_MAX_ID = 0xFFFFFFFF


def validate_port_num_or_name(port: Any, path: str) -> list[Cause]:
    """``ValidatePortNumOrName`` for an IntOrString port."""
    if is_int(port):
        return [c.invalid(path, port, m) for m in names.is_valid_port_num(port)]
    if isinstance(port, str):
        return [c.invalid(path, port, m) for m in names.is_valid_port_name(port)]
    return [c.invalid(path, c.render(port), "must be an integer or a port name")] if port is not None else [
        c.invalid(path, 0, names.inclusive_range_error(1, 65535))]


def _validate_ports(ports: list[Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        ppath = c.index(path, i)
        name = get_str(port, "name")
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                out += [c.invalid(c.child(ppath, "name"), name, m) for m in msgs]
            elif name in seen:
                out.append(c.duplicate(c.child(ppath, "name"), name))
            else:
                seen.add(name)
        container_port = get_int(port, "containerPort") or 0
        if container_port == 0:
            out.append(c.required(c.child(ppath, "containerPort")))
        else:
            out += [c.invalid(c.child(ppath, "containerPort"), container_port, m)
                    for m in names.is_valid_port_num(container_port)]
        host_port = get_int(port, "hostPort") or 0
        if host_port != 0:
            out += [c.invalid(c.child(ppath, "hostPort"), host_port, m) for m in names.is_valid_port_num(host_port)]
        protocol = get_str(port, "protocol")
        if not protocol:
            out.append(c.required(c.child(ppath, "protocol")))
        elif protocol not in _PROTOCOLS:
            out.append(c.not_supported(c.child(ppath, "protocol"), protocol, _PROTOCOLS))
    return out


def _key_selector(ref: dict[str, Any], path: str) -> list[Cause]:
    name = get_str(ref, "name")
    out = [c.invalid(c.child(path, "name"), name, m) for m in names.name_is_dns_subdomain(name, False)]
    key = get_str(ref, "key")
    if not key:
        out.append(c.required(c.child(path, "key")))
    else:
        out += [c.invalid(c.child(path, "key"), key, m) for m in names.is_config_map_key(key)]
    return out


def _validate_env(env: list[Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, var in enumerate(env):
        vpath = c.index(path, i)
        name = get_str(var, "name")
        if not name:
            out.append(c.required(c.child(vpath, "name")))
        else:
            out += [c.invalid(c.child(vpath, "name"), name, m) for m in names.is_relaxed_env_var_name(name)]
        value_from = var.get("valueFrom") if isinstance(var, dict) else None
        if value_from is None:
            continue
        fpath = c.child(vpath, "valueFrom")
        vf = value_from if isinstance(value_from, dict) else {}
        sources = 0
        if vf.get("fieldRef") is not None:
            sources += 1
            out += validate_object_field_selector(vf["fieldRef"], ENV_FIELD_PATHS, c.child(fpath, "fieldRef"))
        if vf.get("resourceFieldRef") is not None:
            sources += 1
            out += validate_resource_field_selector(vf["resourceFieldRef"], c.child(fpath, "resourceFieldRef"),
                                                    volume=False)
        for kind in ("configMapKeyRef", "secretKeyRef"):
            if vf.get(kind) is not None:
                sources += 1
                out += _key_selector(get_dict(vf, kind), c.child(fpath, kind))
        if sources == 0:
            out.append(c.invalid(fpath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                           "`configMapKeyRef` or `secretKeyRef`"))
        elif get_str(var, "value"):
            out.append(c.invalid(fpath, "", "may not be specified when `value` is not empty"))
        elif sources > 1:
            out.append(c.invalid(fpath, "", "may not have more than one field specified at a time"))
    return out


def _validate_env_from(env_from: list[Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, source in enumerate(env_from):
        spath = c.index(path, i)
        prefix = get_str(source, "prefix")
        if prefix:
            out += [c.invalid(c.child(spath, "prefix"), prefix, m) for m in names.is_relaxed_env_var_name(prefix)]
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if isinstance(source, dict) and isinstance(source.get(kind), dict):
                count += 1
                name = get_str(source[kind], "name")
                if not name:
                    out.append(c.required(c.child(spath, kind, "name")))
                else:
                    out += [c.invalid(c.child(spath, kind, "name"), name, m)
                            for m in names.name_is_dns_subdomain(name, True)]
        if count == 0:
            out.append(c.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            out.append(c.invalid(path, "", "may not have more than one field specified at a time"))
    return out


def _validate_mounts(ctr: dict[str, Any], volumes: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    mount_points: set[str] = set()
    device_names = {get_str(d, "name") for d in get_list(ctr, "volumeDevices")}
    device_paths = {get_str(d, "devicePath") for d in get_list(ctr, "volumeDevices")}
    privileged = get_dict(ctr, "securityContext").get("privileged") is True
    for i, mount in enumerate(get_list(ctr, "volumeMounts")):
        mpath = c.index(path, i)
        name = get_str(mount, "name")
        mount_path = get_str(mount, "mountPath")
        if not name:
            out.append(c.required(c.child(mpath, "name")))
        if name not in volumes:
            out.append(c.not_found(c.child(mpath, "name"), name))
        if not mount_path:
            out.append(c.required(c.child(mpath, "mountPath")))
        if mount_path in mount_points:
            out.append(c.invalid(c.child(mpath, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if name and name in device_names:
            out.append(c.invalid(c.child(mpath, "name"), name, "must not already exist in volumeDevices"))
        if mount_path and mount_path in device_paths:
            out.append(c.invalid(c.child(mpath, "mountPath"), mount_path,
                                 "must not already exist as a path in volumeDevices"))
        sub_path = get_str(mount, "subPath")
        sub_expr = get_str(mount, "subPathExpr")
        if sub_path:
            out += validate_local_descending_path(sub_path, c.child(path, "subPath"))
        if sub_expr:
            if sub_path:
                out.append(c.invalid(c.child(mpath, "subPathExpr"), sub_expr,
                                     "subPathExpr and subPath are mutually exclusive"))
            out += validate_local_descending_path(sub_expr, c.child(path, "subPathExpr"))
        propagation = mount.get("mountPropagation") if isinstance(mount, dict) else None
        if isinstance(propagation, str):
            if propagation not in ("Bidirectional", "HostToContainer", "None"):
                out.append(c.not_supported(c.child(path, "mountPropagation"), propagation,
                                           ("Bidirectional", "HostToContainer", "None")))
            elif propagation == "Bidirectional" and not privileged:
                out.append(c.forbidden(c.child(path, "mountPropagation"),
                                       "Bidirectional mount propagation is available only to privileged containers"))
    return out


def _validate_handler(handler: Any, grace: int | None, path: str, *, allow_sleep: bool) -> list[Cause]:
    out: list[Cause] = []
    count = 0
    kinds = ("exec", "httpGet", "tcpSocket", "grpc") + (("sleep",) if allow_sleep else ())
    for kind in kinds:
        action = handler.get(kind) if isinstance(handler, dict) else None
        if action is None:
            continue
        kpath = c.child(path, kind)
        if count > 0:
            out.append(c.forbidden(kpath, "may not specify more than 1 handler type"))
            continue
        count += 1
        if kind == "exec" and not get_list(action, "command"):
            out.append(c.required(c.child(kpath, "command")))
        elif kind == "httpGet":
            if not get_str(action, "path"):
                out.append(c.required(c.child(kpath, "path")))
            out += validate_port_num_or_name(action.get("port") if isinstance(action, dict) else None,
                                             c.child(kpath, "port"))
            scheme = get_str(action, "scheme")
            if scheme not in ("HTTP", "HTTPS"):
                out.append(c.not_supported(c.child(kpath, "scheme"), scheme, ("HTTP", "HTTPS")))
            for header in get_list(action, "httpHeaders"):
                hname = get_str(header, "name")
                out += [c.invalid(c.child(kpath, "httpHeaders"), hname, m) for m in names.is_http_header_name(hname)]
        elif kind in ("tcpSocket", "grpc"):
            out += validate_port_num_or_name(action.get("port") if isinstance(action, dict) else None,
                                             c.child(kpath, "port"))
        elif kind == "sleep":
            seconds = get_int(action, "seconds") or 0
            if grace is not None and (seconds <= 0 or seconds > grace):
                out.append(c.invalid(kpath, seconds, "must be greater than 0 and less than terminationGracePeriodSeconds "
                                     f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."))
    if count == 0:
        out.append(c.required(path, "must specify a handler type"))
    return out


def _validate_probe(probe: Any, grace: int | None, path: str, kind: str) -> list[Cause]:
    if not isinstance(probe, dict):
        return []
    out = _validate_handler(probe, grace, path, allow_sleep=False)
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        value = get_int(probe, name)
        if value is not None and value < 0:
            out.append(c.invalid(c.child(path, name), value, "must be greater than or equal to 0"))
    probe_grace = get_int(probe, "terminationGracePeriodSeconds")
    if probe_grace is not None and probe_grace <= 0:
        out.append(c.invalid(c.child(path, "terminationGracePeriodSeconds"), probe_grace, "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe") and get_int(probe, "successThreshold") not in (None, 1):
        out.append(c.invalid(c.child(path, "successThreshold"), get_int(probe, "successThreshold"), "must be 1"))
    if kind == "readinessProbe" and "terminationGracePeriodSeconds" in probe:
        out.append(c.invalid(c.child(path, "terminationGracePeriodSeconds"), probe_grace,
                             "must not be set for readinessProbes"))
    return out


def _probes_and_lifecycle(ctr: dict[str, Any], grace: int | None, path: str) -> list[Cause]:
    out: list[Cause] = []
    lifecycle = ctr.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                out += _validate_handler(lifecycle[hook], grace, c.child(path, "lifecycle", hook), allow_sleep=True)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        out += _validate_probe(ctr.get(kind), grace, c.child(path, kind), kind)
    return out


def validate_security_context(sc: Any, path: str) -> list[Cause]:
    """The parts of ``ValidateSecurityContext`` that apply on Linux."""
    out: list[Cause] = []
    if not isinstance(sc, dict):
        return out
    for name in ("runAsUser", "runAsGroup"):
        value = get_int(sc, name)
        if value is not None and not 0 <= value <= _MAX_ID:
            out.append(c.invalid(c.child(path, name), value, names.inclusive_range_error(0, _MAX_ID)))
    proc_mount = sc.get("procMount")
    if isinstance(proc_mount, str) and proc_mount not in ("Default", "Unmasked"):
        out.append(c.not_supported(c.child(path, "procMount"), proc_mount, ("Default", "Unmasked")))
    out += _seccomp(sc.get("seccompProfile"), c.child(path, "seccompProfile"))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            out.append(c.invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
        if "CAP_SYS_ADMIN" in get_list(get_dict(sc, "capabilities"), "add"):
            out.append(c.invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` "
                                           "CAP_SYS_ADMIN"))
    return out


def _seccomp(profile: Any, path: str) -> list[Cause]:
    if not isinstance(profile, dict):
        return []
    kind = get_str(profile, "type")
    local = profile.get("localhostProfile")
    if kind == "Localhost":
        if not isinstance(local, str) or not local:
            return [c.required(c.child(path, "localhostProfile"), "must be set when seccomp type is Localhost")]
        return []
    if kind in ("RuntimeDefault", "Unconfined"):
        if local is not None:
            return [c.invalid(c.child(path, "localhostProfile"), local, "can only be set when seccomp type is Localhost")]
        return []
    if not kind:
        return [c.required(c.child(path, "type"), "type is required when seccompProfile is set")]
    return [c.not_supported(c.child(path, "type"), kind, ("Localhost", "RuntimeDefault", "Unconfined"))]


def _validate_common(ctr: dict[str, Any], volumes: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    name = get_str(ctr, "name")
    if not name:
        out.append(c.required(c.child(path, "name")))
    else:
        out += [c.invalid(c.child(path, "name"), name, m) for m in names.is_dns1123_label(name)]
    if not get_str(ctr, "image"):
        out.append(c.required(c.child(path, "image")))
    policy = get_str(ctr, "terminationMessagePolicy")
    if not policy:
        out.append(c.required(c.child(path, "terminationMessagePolicy")))
    elif policy not in ("File", "FallbackToLogsOnError"):
        out.append(c.not_supported(c.child(path, "terminationMessagePolicy"), policy, ("File", "FallbackToLogsOnError")))
    out += _validate_ports(get_list(ctr, "ports"), c.child(path, "ports"))
    out += _validate_env(get_list(ctr, "env"), c.child(path, "env"))
    out += _validate_env_from(get_list(ctr, "envFrom"), c.child(path, "envFrom"))
    out += _validate_mounts(ctr, volumes, c.child(path, "volumeMounts"))
    pull = get_str(ctr, "imagePullPolicy")
    if not pull:
        out.append(c.required(c.child(path, "imagePullPolicy")))
    elif pull not in _PULL_POLICIES:
        out.append(c.not_supported(c.child(path, "imagePullPolicy"), pull, _PULL_POLICIES))
    out += validate_requirements(ctr.get("resources"), c.child(path, "resources"))
    out += validate_security_context(ctr.get("securityContext"), c.child(path, "securityContext"))
    return out


def _host_port_conflicts(containers: list[dict[str, Any]], path: str, seen: set[str]) -> list[Cause]:
    out: list[Cause] = []
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(get_list(ctr, "ports")):
            host_port = get_int(port, "hostPort") or 0
            if host_port == 0:
                continue
            ident = f"{get_str(port, 'protocol')}/{get_str(port, 'hostIP')}/{host_port}"
            if ident in seen:
                out.append(c.duplicate(c.child(c.index(c.child(c.index(path, ci), "ports"), pi), "hostPort"), ident))
            seen.add(ident)
    return out


def validate_containers(containers: Any, volumes: set[str], grace: int | None, path: str) -> list[Cause]:
    """``validateContainers``: at least one, unique names, each container valid."""
    ctrs = [x for x in containers if isinstance(x, dict)] if isinstance(containers, list) else []
    if not ctrs:
        return [c.required(path)]
    out: list[Cause] = []
    seen: set[str] = set()
    for i, ctr in enumerate(ctrs):
        cpath = c.index(path, i)
        out += _validate_common(ctr, volumes, cpath)
        name = get_str(ctr, "name")
        if name in seen:
            out.append(c.duplicate(c.child(cpath, "name"), name))
        seen.add(name)
        out += _probes_and_lifecycle(ctr, grace, cpath)
        if ctr.get("restartPolicy") is not None:
            out.append(c.forbidden(c.child(cpath, "restartPolicy"), "may not be set for non-init containers"))
    return out + _host_port_conflicts(ctrs, path, set())


def validate_init_containers(inits: Any, regular: Any, volumes: set[str], grace: int | None,
                             path: str) -> list[Cause]:
    """``validateInitContainers``: names unique across init and regular containers."""
    out: list[Cause] = []
    seen = {get_str(x, "name") for x in regular} if isinstance(regular, list) else set()
    for i, ctr in enumerate(inits if isinstance(inits, list) else []):
        if not isinstance(ctr, dict):
            continue
        cpath = c.index(path, i)
        out += _validate_common(ctr, volumes, cpath)
        restart = ctr.get("restartPolicy")
        restart_always = restart == "Always"
        if isinstance(restart, str) and restart != "Always":
            out.append(c.not_supported(c.child(cpath, "restartPolicy"), restart, ("Always",)))
        name = get_str(ctr, "name")
        if name in seen:
            out.append(c.duplicate(c.child(cpath, "name"), name))
        elif name:
            seen.add(name)
        out += _host_port_conflicts([ctr], path, set())
        if restart_always:
            out += _probes_and_lifecycle(ctr, grace, cpath)
        else:
            for field in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(field) is not None:
                    out.append(c.forbidden(c.child(cpath, field),
                                           "may not be set for init containers without restartPolicy=Always"))
    return out
