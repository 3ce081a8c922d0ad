"""A container's environment, command and args, resolved as the kubelet resolves them.

``expand`` is Kubernetes' ``third_party/forked/golang/expansion``: ``$(VAR)`` is replaced
when ``VAR`` is known, left as written when not, and ``$$`` escapes a ``$``.
``service_env`` builds the Docker-link style variables of the active Services
(``<SVC>_SERVICE_HOST``, ``<SVC>_PORT_<port>_<PROTO>_ADDR`` ...) as ``pkg/kubelet/envvars``
does. ``container_env`` resolves envFrom and env (configMapRef/secretRef with prefix,
configMapKeyRef/secretKeyRef, fieldRef, resourceFieldRef) in the kubelet's order and
``container_argv`` expands command and args. A missing non-optional ConfigMap, Secret or
key raises ``errors.RuntimeFailure`` with reason ``CreateContainerConfigError``.

Pure: the pod worker (``gitkube.agent.podworker``) fetches the referenced objects first.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitkube import errors
from gitkube.api import quantity

__all__ = [
    "PodFacts",
    "container_argv",
    "config_data",
    "container_env",
    "expand",
    "field_value",
    "referenced_objects",
    "resource_field_value",
    "service_env",
]

Obj = dict[str, Any]
CONFIG_ERROR = "CreateContainerConfigError"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def expand(text: str, mapping: Callable[[str], str | None]) -> str:
    """Expand ``$(VAR)`` references in ``text`` exactly as Kubernetes does."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            if nxt == "$":
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = text[cursor + 2:close]
                    value = mapping(name)
                    out.append(value if value is not None else f"$({name})")
                    advance = close - cursor
            else:
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_")


def _ip_set(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def _one_service_env(svc: Obj) -> list[tuple[str, str]]:
    spec = svc.get("spec") or {}
    ip = str(spec["clusterIP"])
    ports = spec.get("ports") or []
    prefix = _env_name(str(svc["metadata"]["name"]))
    out = [(f"{prefix}_SERVICE_HOST", ip)]
    if ports:
        out.append((f"{prefix}_SERVICE_PORT", str(ports[0].get("port"))))
    for p in ports:
        if p.get("name"):
            out.append((f"{prefix}_SERVICE_PORT_{_env_name(str(p['name']))}", str(p.get("port"))))
    host = f"[{ip}]" if ":" in ip else ip
    for i, p in enumerate(ports):
        proto = str(p.get("protocol") or "TCP")
        url = f"{proto.lower()}://{host}:{p.get('port')}"
        if i == 0:
            out.append((f"{prefix}_PORT", url))
        pp = f"{prefix}_PORT_{p.get('port')}_{proto.upper()}"
        out += [(pp, url), (f"{pp}_PROTO", proto.lower()), (f"{pp}_PORT", str(p.get("port"))), (f"{pp}_ADDR", ip)]
    return out


def service_env(services: Iterable[Obj], namespace: str, enable_service_links: bool = True) -> dict[str, str]:
    """The service variables a pod in ``namespace`` gets: the ``kubernetes`` Service of
    ``default`` always, the active Services of its namespace when service links are on."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        m = svc.get("metadata") or {}
        if not _ip_set(svc):
            continue
        name = str(m.get("name"))
        if m.get("namespace") == "default" and name == "kubernetes":
            chosen.setdefault(name, svc)
        if m.get("namespace") == namespace and enable_service_links:
            chosen[name] = svc
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(_one_service_env(chosen[name]))
    return out


class PodFacts:
    """What fieldRef and resourceFieldRef read: the pod, its IP and the node's."""

    def __init__(self, pod: Obj, pod_ip: str, host_ip: str) -> None:
        self.pod = pod
        self.pod_ip = pod_ip
        self.host_ip = host_ip


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(path: str, facts: PodFacts) -> str:
    """The value of a downward API ``fieldRef.fieldPath``."""
    m = facts.pod.get("metadata") or {}
    spec = facts.pod.get("spec") or {}
    simple = {
        "metadata.name": m.get("name", ""), "metadata.namespace": m.get("namespace", ""),
        "metadata.uid": m.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""), "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip, "status.hostIP": facts.host_ip, "status.hostIPs": facts.host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_REF.match(path)
    if match:
        return str((m.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = m.get(path.split(".")[1]) or {}
        return "".join(f'{k}="{v}"\n' for k, v in sorted(items.items()))
    raise errors.RuntimeFailure(f'unsupported fieldPath: "{path}"', reason=CONFIG_ERROR)


def resource_field_value(ref: Obj, container: Obj, node_allocatable: Mapping[str, str] | None = None) -> str:
    """``resourceFieldRef``: limits/requests of cpu, memory, ephemeral-storage, divided by
    ``divisor`` and rounded up, as the downward API does (limits fall back to allocatable)."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    res = container.get("resources") or {}
    raw = (res.get(kind) or {}).get(name)
    if raw is None and kind == "limits":
        raw = (node_allocatable or {}).get(name)
    if raw is None and kind == "requests":
        raw = "0"
    if raw is None:
        raise errors.RuntimeFailure(f'unsupported container resource: "{resource}"', reason=CONFIG_ERROR)
    divisor = quantity.parse_quantity(str(ref.get("divisor") or "1"))
    if divisor.is_zero():
        divisor = quantity.parse_quantity("1")
    return str(math.ceil(quantity.parse_quantity(str(raw)).value / divisor.value))


def referenced_objects(pod: Obj) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the containers' env and the volumes refer to."""
    cms: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec") or {}
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        for src in c.get("envFrom") or []:
            if src.get("configMapRef"):
                cms.add(src["configMapRef"]["name"])
            if src.get("secretRef"):
                secrets.add(src["secretRef"]["name"])
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if vf.get("configMapKeyRef"):
                cms.add(vf["configMapKeyRef"]["name"])
            if vf.get("secretKeyRef"):
                secrets.add(vf["secretKeyRef"]["name"])
    for v in spec.get("volumes") or []:
        sources = [v] + [s for s in (v.get("projected") or {}).get("sources") or []]
        for s in sources:
            if s.get("configMap"):
                cms.add(s["configMap"]["name"])
            if s.get("secret"):
                secrets.add(s["secret"].get("secretName") or s["secret"].get("name"))
    return cms, secrets


def config_data(obj: Obj | None, *, secret: bool) -> dict[str, str] | None:
    """The string data of a ConfigMap or Secret (Secret ``data`` is base64)."""
    if obj is None:
        return None
    if not secret:
        return {**{str(k): str(v) for k, v in (obj.get("data") or {}).items()},
                **{str(k): base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("binaryData") or {}).items()}}
    out = {str(k): base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    out.update({str(k): str(v) for k, v in (obj.get("stringData") or {}).items()})
    return out


def _lookup(kind: str, name: str, objects: Mapping[str, Obj], optional: bool) -> dict[str, str] | None:
    data = config_data(objects.get(name), secret=kind == "secret")
    if data is None and not optional:
        raise errors.RuntimeFailure(f'{kind} "{name}" not found', reason=CONFIG_ERROR)
    return data


def container_env(container: Obj, facts: PodFacts, *, configmaps: Mapping[str, Obj], secrets: Mapping[str, Obj],
                  services: Mapping[str, str], node_allocatable: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's environment: envFrom, then env (each value expanded against the
    variables defined before it and the service variables), then the service variables
    the container did not define itself."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        if src.get("configMapRef"):
            ref = src["configMapRef"]
            data = _lookup("configmap", ref["name"], configmaps, bool(ref.get("optional")))
        elif src.get("secretRef"):
            ref = src["secretRef"]
            data = _lookup("secret", ref["name"], secrets, bool(ref.get("optional")))
        else:
            continue
        for key, value in (data or {}).items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value

    def mapping(name: str) -> str | None:
        return env.get(name, services.get(name))

    for e in container.get("env") or []:
        name = str(e["name"])
        vf = e.get("valueFrom")
        if not vf:
            env[name] = expand(str(e.get("value") or ""), mapping)
            continue
        if vf.get("fieldRef"):
            env[name] = field_value(str(vf["fieldRef"].get("fieldPath", "")), facts)
        elif vf.get("resourceFieldRef"):
            target = container
            cname = vf["resourceFieldRef"].get("containerName")
            if cname:
                spec = facts.pod.get("spec") or {}
                target = next((c for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
                               if c.get("name") == cname), container)
            env[name] = resource_field_value(vf["resourceFieldRef"], target, node_allocatable)
        elif vf.get("configMapKeyRef") or vf.get("secretKeyRef"):
            is_secret = bool(vf.get("secretKeyRef"))
            ref = vf["secretKeyRef"] if is_secret else vf["configMapKeyRef"]
            kind = "secret" if is_secret else "configmap"
            optional = bool(ref.get("optional"))
            data = _lookup(kind, str(ref["name"]), secrets if is_secret else configmaps, optional)
            if data is None:
                continue
            if ref["key"] not in data:
                if optional:
                    continue
                raise errors.RuntimeFailure(f"couldn't find key {ref['key']} in {'Secret' if is_secret else 'ConfigMap'} "
                                            f"{facts.pod['metadata'].get('namespace')}/{ref['name']}", reason=CONFIG_ERROR)
            env[name] = data[ref["key"]]
    for k, v in services.items():
        env.setdefault(k, v)
    return list(env.items())


def container_argv(container: Obj, env: Iterable[tuple[str, str]]) -> list[str]:
    """command + args with ``$(VAR)`` expanded against the final environment. There is no
    image entrypoint: a container without ``command`` runs its ``args``."""
    values = dict(env)
    command = [expand(str(x), values.get) for x in container.get("command") or []]
    args = [expand(str(x), values.get) for x in container.get("args") or []]
    argv = command + args
    if not argv:
        raise errors.RuntimeFailure(
            f'container "{container.get("name")}" has no command and no args, and gitkube runs no image entrypoint',
            reason="ContainerCannotRun")
    return argv
