"""Building a runtime ``ContainerSpec`` from a pod, one container and its attempt.

Resolves env and argv (``gitkube.agent.envvars``), mounts (``gitkube.agent.volumes``),
workingDir, the effective securityContext (container over pod: runAsUser, runAsGroup,
runAsNonRoot) and the limits (cpu in millicores, memory in bytes). A pod that asks for
runAsNonRoot without a non-zero runAsUser cannot start: there is no image user to check,
so the kubelet's "image will run as root" error applies. Pure; called by
``gitkube.agent.podworker`` with the ConfigMaps, Secrets and Services it fetched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent import envvars, volumes
from gitkube.agent.runtime_api import ContainerSpec, Limits
from gitkube.api import quantity

__all__ = ["DEFAULT_PATH", "build_spec", "log_path", "pod_dir_name", "pod_label"]

Obj = dict[str, Any]
# What an image's config would give: the usual PATH, with this Python's bin directory first
# so ``python3`` in a pod is the interpreter gitkube runs on.
DEFAULT_PATH = f"{os.path.dirname(sys.executable)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pod_dir_name(pod: Obj) -> str:
    m = pod["metadata"]
    return f"{m.get('namespace')}_{m.get('name')}_{m.get('uid')}"


def pod_label(pod: Obj) -> str:
    """How the kubelet names a pod in messages: ``name_namespace(uid)``."""
    m = pod["metadata"]
    return f"{m.get('name')}_{m.get('namespace')}({m.get('uid')})"


def log_path(pod_dir: Path, container: str, attempt: int) -> Path:
    return pod_dir / "logs" / container / f"{attempt}.log"


def _limits(container: Obj) -> Limits:
    lim = (container.get("resources") or {}).get("limits") or {}
    cpu = quantity.parse_quantity(str(lim["cpu"])).milli_value() if lim.get("cpu") else None
    mem = quantity.parse_quantity(str(lim["memory"])).int_value() if lim.get("memory") else None
    return Limits(cpu_millis=cpu, memory_bytes=mem)


def _security(pod: Obj, container: Obj) -> tuple[int | None, int | None]:
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}

    def pick(name: str) -> Any:
        return csc[name] if csc.get(name) is not None else psc.get(name)

    user, group, non_root = pick("runAsUser"), pick("runAsGroup"), pick("runAsNonRoot")
    if non_root and not user:
        if user == 0:
            raise errors.RuntimeFailure("container's runAsUser breaks non-root policy "
                                        f"(pod: \"{pod_label(pod)}\", container: {container.get('name')})",
                                        reason=envvars.CONFIG_ERROR)
        raise errors.RuntimeFailure(f"container has runAsNonRoot and image will run as root "
                                    f"(pod: \"{pod_label(pod)}\", container: {container.get('name')})",
                                    reason=envvars.CONFIG_ERROR)
    return (int(user) if user is not None else None, int(group) if group is not None else None)


def build_spec(pod: Obj, container: Obj, attempt: int, *, pod_dir: Path, pod_ip: str, host_ip: str,
               volume_paths: Mapping[str, Path], configmaps: Mapping[str, Obj], secrets: Mapping[str, Obj],
               services: Iterable[Obj], node_allocatable: Mapping[str, str] | None = None,
               sandbox: bool = True) -> ContainerSpec:
    """The spec of attempt ``attempt`` of ``container``; ``errors.RuntimeFailure`` with
    reason CreateContainerConfigError (or ContainerCannotRun) when it cannot be built."""
    m = pod["metadata"]
    spec = pod.get("spec") or {}
    links = spec.get("enableServiceLinks")
    svc_env = envvars.service_env(services, str(m.get("namespace")), True if links is None else bool(links))
    facts = envvars.PodFacts(pod, pod_ip, host_ip)
    env = envvars.container_env(container, facts, configmaps=configmaps, secrets=secrets, services=svc_env,
                                node_allocatable=node_allocatable)
    names = {k for k, _ in env}
    hostname = str(spec.get("hostname") or m.get("name"))
    env = [(k, v) for k, v in (("PATH", DEFAULT_PATH), ("HOSTNAME", hostname)) if k not in names] + env
    argv = envvars.container_argv(container, env)
    user, group = _security(pod, container)
    name = str(container["name"])
    return ContainerSpec(
        pod_uid=str(m.get("uid")), pod_namespace=str(m.get("namespace")), pod_name=str(m.get("name")), name=name,
        attempt=attempt, argv=tuple(argv), env=tuple(env), pod_dir=pod_dir, log_path=log_path(pod_dir, name, attempt),
        working_dir=container.get("workingDir") or None, mounts=volumes.container_mounts(pod, container, volume_paths),
        run_as_user=user, run_as_group=group, limits=_limits(container), pod_ip=pod_ip, sandbox=sandbox)
