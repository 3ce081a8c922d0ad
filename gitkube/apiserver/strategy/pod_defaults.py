"""Defaulting of PodSpecs, containers, probes and volumes (``pkg/apis/core/v1/defaults.go``).

:func:`default_pod_spec` applies what Kubernetes 1.32 applies to every PodSpec, whether in a
Pod or in a workload's template: ``restartPolicy: Always``, ``dnsPolicy: ClusterFirst``,
``terminationGracePeriodSeconds: 30``, ``schedulerName: default-scheduler``,
``securityContext: {}``, and per container ``imagePullPolicy`` (``Always`` for ``:latest`` or
no tag, else ``IfNotPresent``), ``terminationMessagePath``/``Policy``, port protocol ``TCP``,
probe timings, ``httpGet`` path and scheme, ``fieldRef.apiVersion: v1``; per volume the
``defaultMode: 420`` of secret/configMap/downwardAPI/projected sources and ``emptyDir: {}``
when no source is given. Resource quantities are rewritten in canonical form.

:func:`default_pod_only` adds what only a Pod gets (``SetDefaults_Pod`` plus what the
ServiceAccount and Priority admission plugins of a default cluster add): requests copied
from limits, ``enableServiceLinks: true``, ``serviceAccountName: default``, ``priority``
and ``preemptionPolicy``, and ``status.phase: Pending`` with the computed ``qosClass``.

Pure; called by the pod and workload strategies.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.quantity import Quantity, QuantityError, parse_quantity
from gitkube.apiserver.strategy.base import ensure_dict, get_dict, get_list, get_str
from gitkube.apiserver.strategy.resources import canonicalize_list

__all__ = [
    "VOLUME_SOURCES",
    "default_container",
    "default_pod_only",
    "default_pod_spec",
    "default_probe",
    "image_pull_policy",
    "pod_qos_class",
]

VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
_DEFAULT_MODE = 0o644
_SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def image_pull_policy(image: str) -> str:
    """``Always`` when the image has the ``latest`` tag or no tag and no digest, else ``IfNotPresent``."""
    name, has_digest, _ = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not has_digest and image:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _set(obj: dict[str, Any], name: str, value: Any) -> None:
    if obj.get(name) in (None, ""):
        obj[name] = value


def default_probe(probe: Any) -> None:
    """``SetDefaults_Probe`` plus the handler defaults (``httpGet`` path ``/``, scheme ``HTTP``)."""
    if not isinstance(probe, dict):
        return
    for name, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                        ("failureThreshold", 3)):
        if probe.get(name) in (None, 0):
            probe[name] = value
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    http = handler.get("httpGet") if isinstance(handler, dict) else None
    if isinstance(http, dict):
        _set(http, "path", "/")
        _set(http, "scheme", "HTTP")


def _default_field_ref(holder: Any) -> None:
    ref = holder.get("fieldRef") if isinstance(holder, dict) else None
    if isinstance(ref, dict):
        _set(ref, "apiVersion", "v1")
    res = holder.get("resourceFieldRef") if isinstance(holder, dict) else None
    if isinstance(res, dict):
        _set(res, "divisor", "0")


def default_container(container: Any) -> None:
    """``SetDefaults_Container`` and the defaults of everything a container embeds."""
    if not isinstance(container, dict):
        return
    image = get_str(container, "image")
    _set(container, "imagePullPolicy", image_pull_policy(image))
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    for port in get_list(container, "ports"):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
    for env in get_list(container, "env"):
        if isinstance(env, dict):
            _default_field_ref(env.get("valueFrom"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        default_probe(container.get(probe))
    lifecycle = get_dict(container, "lifecycle")
    for hook in ("postStart", "preStop"):
        _default_handler(lifecycle.get(hook))
    resources = ensure_dict(container, "resources")
    canonicalize_list(resources.get("limits"))
    canonicalize_list(resources.get("requests"))


def _default_volume(volume: Any) -> None:
    if not isinstance(volume, dict):
        return
    if not any(volume.get(src) is not None for src in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(src)
        if isinstance(source, dict):
            _set(source, "defaultMode", _DEFAULT_MODE)
    for item in get_list(get_dict(volume, "downwardAPI"), "items"):
        _default_field_ref(item)
    for source in get_list(get_dict(volume, "projected"), "sources"):
        token = get_dict(source, "serviceAccountToken")
        if token:
            _set(token, "expirationSeconds", 3600)
        for item in get_list(get_dict(source, "downwardAPI"), "items"):
            _default_field_ref(item)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and empty_dir.get("sizeLimit") is not None:
        size = _quantity(empty_dir["sizeLimit"])
        if size is not None:
            empty_dir["sizeLimit"] = str(size)


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in ("initContainers", "containers", "ephemeralContainers"):
        out.extend(x for x in get_list(spec, name) if isinstance(x, dict))
    return out


def default_pod_spec(spec: Any) -> None:
    """``SetDefaults_PodSpec`` and the defaults of its containers and volumes."""
    if not isinstance(spec, dict):
        return
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _set(spec, "schedulerName", "default-scheduler")
    for container in _containers(spec):
        default_container(container)
    for volume in get_list(spec, "volumes"):
        _default_volume(volume)
    canonicalize_list(spec.get("overhead"))


def _quantity(value: Any) -> Quantity | None:
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def pod_qos_class(spec: Any) -> str:
    """``ComputePodQOS``: Guaranteed, Burstable or BestEffort from cpu/memory of all containers."""
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for container in get_list(spec, "containers") + get_list(spec, "initContainers"):
        resources = get_dict(container, "resources")
        for name, value in get_dict(resources, "requests").items():
            q = _quantity(value)
            if name in ("cpu", "memory") and q is not None and q.sign() > 0:
                requests[name] = requests[name] + q if name in requests else q
        found = set()
        for name, value in get_dict(resources, "limits").items():
            q = _quantity(value)
            if name in ("cpu", "memory") and q is not None and q.sign() > 0:
                found.add(name)
                limits[name] = limits[name] + q if name in limits else q
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(k) == v for k, v in requests.items()) and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def default_pod_only(pod: dict[str, Any]) -> None:
    """What a Pod object (not a template) gets on top of :func:`default_pod_spec`."""
    spec = get_dict(pod, "spec")
    if not spec and not isinstance(pod.get("spec"), dict):
        return
    for container in get_list(spec, "containers") + get_list(spec, "initContainers"):
        resources = get_dict(container, "resources")
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = ensure_dict(resources, "requests")
            for name, value in limits.items():
                requests.setdefault(name, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork") is True:
        for container in get_list(spec, "containers") + get_list(spec, "initContainers"):
            for port in get_list(container, "ports"):
                if isinstance(port, dict) and port.get("hostPort") in (None, 0) and "containerPort" in port:
                    port["hostPort"] = port["containerPort"]
    # The ServiceAccount admission plugin of a default cluster.
    _set(spec, "serviceAccountName", get_str(spec, "serviceAccount") or "default")
    _set(spec, "serviceAccount", spec["serviceAccountName"])
    # The Priority admission plugin with no default PriorityClass.
    class_name = get_str(spec, "priorityClassName")
    if not class_name and spec.get("priority") is None:
        spec["priority"] = 0
    elif class_name in _SYSTEM_PRIORITIES and spec.get("priority") is None:
        spec["priority"] = _SYSTEM_PRIORITIES[class_name]
    if (not class_name or class_name in _SYSTEM_PRIORITIES) and spec.get("preemptionPolicy") is None:
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    status = ensure_dict(pod, "status")
    _set(status, "phase", "Pending")
    _set(status, "qosClass", pod_qos_class(spec))
