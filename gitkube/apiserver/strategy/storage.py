"""PersistentVolumeClaim and PersistentVolume strategies (``pkg/apis/core/validation``).

PersistentVolumeClaim: defaults ``spec.volumeMode: Filesystem`` and ``status.phase: Pending``;
``spec.accessModes`` needs at least one known mode, ``spec.resources.requests.storage`` is
required and positive, ``volumeMode`` is Block or Filesystem. On update the spec is immutable,
except that ``volumeName`` may be set once (binding) and, on a Bound claim,
``resources.requests`` may grow (``spec: Forbidden: spec is immutable after creation except
resources.requests and volumeAttributesClassName for bound claims``).

PersistentVolume (cluster-scoped): defaults ``persistentVolumeReclaimPolicy: Retain``,
``volumeMode: Filesystem`` and ``status.phase: Pending``; ``spec.capacity.storage`` and
``spec.accessModes`` are required, exactly one volume source must be given (a hostPath needs a
path without ``..``), the reclaim policy is Delete, Recycle or Retain. The volume source and
the volume mode are immutable.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_list, get_str
from gitkube.apiserver.strategy.meta import validate_label_selector
from gitkube.apiserver.strategy.pod import normalize
from gitkube.apiserver.strategy.resources import canonicalize_list, parse_field, parse_list
from gitkube.errors import Cause

__all__ = [
    "ACCESS_MODES",
    "PERSISTENTVOLUME",
    "PERSISTENTVOLUMECLAIM",
    "PVC_SPEC_IMMUTABLE",
    "PV_SOURCES",
    "default_pv",
    "default_pvc",
    "validate_pv",
    "validate_pvc",
]

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
PVC_SPEC_IMMUTABLE = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
PV_SOURCE_IMMUTABLE = "spec.persistentvolumesource is immutable after creation"
# The PersistentVolumeSource members, in the order validation visits them.
PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "quobyte",
              "cinder", "cephfs", "iscsi", "fc", "flexVolume", "azureFile", "vsphereVolume", "photonPersistentDisk",
              "portworxVolume", "azureDisk", "scaleIO", "local", "storageos", "csi")


def _default_common(spec: dict[str, Any], obj: dict[str, Any]) -> None:
    if not get_str(spec, "volumeMode"):
        spec["volumeMode"] = "Filesystem"
    status = ensure_dict(obj, "status")
    if not get_str(status, "phase"):
        status["phase"] = "Pending"


def default_pvc(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    _default_common(spec, obj)
    resources = get_dict(spec, "resources")
    canonicalize_list(resources.get("requests"))
    canonicalize_list(resources.get("limits"))
    canonicalize_list(get_dict(obj, "status").get("capacity"))


def default_pv(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    _default_common(spec, obj)
    if not get_str(spec, "persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    canonicalize_list(spec.get("capacity"))


def _access_modes(spec: dict[str, Any], path: str, what: str) -> list[Cause]:
    modes = get_list(spec, "accessModes")
    if not modes:
        return [c.required(c.child(path, "accessModes"), what)]
    out: list[Cause] = []
    for mode in modes:
        if mode not in ACCESS_MODES:
            out.append(c.not_supported(c.child(path, "accessModes"), mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        out.append(c.forbidden(c.child(path, "accessModes"),
                               "may not use ReadWriteOncePod with other access modes"))
    return out


def _volume_mode(spec: dict[str, Any], path: str) -> list[Cause]:
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        return [c.not_supported(c.child(path, "volumeMode"), mode, VOLUME_MODES)]
    return []


def _positive_storage(value: Any, path: str) -> list[Cause]:
    quantity, errs = parse_field(value, path)
    if quantity is not None and quantity.sign() <= 0:
        errs.append(c.invalid(path, str(quantity), "must be greater than zero"))
    return errs


def validate_pvc_spec(spec: dict[str, Any], path: str = "spec") -> list[Cause]:
    """``ValidatePersistentVolumeClaimSpec`` (also used for StatefulSet claim templates)."""
    out = _access_modes(spec, path, "at least 1 access mode is required")
    out += validate_label_selector(spec.get("selector"), c.child(path, "selector"))
    resources = get_dict(spec, "resources")
    requests_path = c.child(path, "resources", "requests")
    requests = resources.get("requests")
    if not isinstance(requests, dict) or "storage" not in requests:
        out.append(c.required(c.key(c.child(path, "resources"), "storage")))
    else:
        out += _positive_storage(requests["storage"], c.key(requests_path, "storage"))
    _parsed, errs = parse_list(resources.get("limits"), c.child(path, "resources", "limits"))
    out += errs
    out += _volume_mode(spec, path)
    class_name = spec.get("storageClassName")
    if isinstance(class_name, str) and class_name:
        out += [c.invalid(c.child(path, "storageClassName"), class_name, m)
                for m in names.name_is_dns_subdomain(class_name, False)]
    return out


def _storage_request(spec: dict[str, Any]) -> Any:
    return get_dict(get_dict(spec, "resources"), "requests").get("storage")


def validate_pvc(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = validate_pvc_spec(spec)
    if old is None:
        return out
    old_spec = get_dict(old, "spec")
    new_cmp, old_cmp = dict(spec), dict(old_spec)
    if not get_str(old_spec, "volumeName"):
        old_cmp["volumeName"] = new_cmp.get("volumeName")  # volumeName may be set once (binding)
    bound = get_str(get_dict(old, "status"), "phase") == "Bound"
    for cmp in (new_cmp, old_cmp):
        cmp.pop("volumeAttributesClassName", None)
        if bound:
            resources = dict(get_dict(cmp, "resources"))
            resources.pop("requests", None)
            cmp["resources"] = resources
    if normalize(new_cmp) != normalize(old_cmp):
        out.append(c.forbidden("spec", PVC_SPEC_IMMUTABLE))
    elif bound:
        new_q, _ = parse_field(_storage_request(spec), "spec")
        old_q, _ = parse_field(_storage_request(old_spec), "spec")
        if new_q is not None and old_q is not None and new_q.value < old_q.value:
            out.append(c.forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    return out


def _pv_source(spec: dict[str, Any]) -> tuple[str, list[Cause]]:
    out: list[Cause] = []
    found = ""
    for kind in PV_SOURCES:
        if spec.get(kind) is None:
            continue
        if found:
            out.append(c.forbidden(c.child("spec", kind), "may not specify more than 1 volume type"))
            continue
        found = kind
    if not found:
        out.append(c.required("spec", "must specify a volume type"))
    elif found == "hostPath":
        target = get_str(get_dict(spec, "hostPath"), "path")
        if not target:
            out.append(c.required("spec.hostPath.path"))
        elif ".." in target.split("/"):
            out.append(c.invalid("spec.hostPath.path", target, "must not contain '..'"))
    elif found == "local":
        target = get_str(get_dict(spec, "local"), "path")
        if not target:
            out.append(c.required("spec.local.path"))
    return found, out


def validate_pv(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out = _access_modes(spec, "spec", "")
    capacity = spec.get("capacity")
    if not isinstance(capacity, dict) or not capacity:
        out.append(c.required("spec.capacity"))
    else:
        for name, value in capacity.items():
            if name != "storage":
                out.append(c.not_supported("spec.capacity", name, ("storage",)))
            else:
                out += _positive_storage(value, c.key("spec.capacity", "storage"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if isinstance(policy, str) and policy not in RECLAIM_POLICIES:
        out.append(c.not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    out += _volume_mode(spec, "spec")
    kind, errs = _pv_source(spec)
    out += errs
    class_name = spec.get("storageClassName")
    if isinstance(class_name, str) and class_name:
        out += [c.invalid("spec.storageClassName", class_name, m) for m in names.name_is_dns_subdomain(class_name, False)]
    if old is not None:
        old_spec = get_dict(old, "spec")
        if kind and normalize(spec.get(kind)) != normalize(old_spec.get(kind)):
            out.append(c.forbidden("spec.persistentvolumesource", PV_SOURCE_IMMUTABLE))
        if old_spec.get("volumeMode") != spec.get("volumeMode"):
            out.append(c.immutable("spec.volumeMode", spec.get("volumeMode")))
    return out


PERSISTENTVOLUMECLAIM = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_pvc, validate=validate_pvc)
PERSISTENTVOLUME = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_pv, validate=validate_pv)
