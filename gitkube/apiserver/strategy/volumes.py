"""Pod volume validation (``ValidateVolumes`` and ``validateVolumeSource``) and downward API refs.

:func:`validate_volumes` checks each volume: a DNS-1123 label name, unique, exactly one
source (``may not specify more than 1 volume type`` / ``must specify a volume type``), and
the fields of the common sources (emptyDir, hostPath, secret, configMap,
persistentVolumeClaim, downwardAPI, projected, nfs, csi, ephemeral, image, gitRepo). It
returns the names of the volumes that passed, which container ``volumeMounts`` may use.

:func:`validate_object_field_selector` and :func:`validate_resource_field_selector` are the
downward API checks shared with container ``env``.

Pure; called by :mod:`gitkube.apiserver.strategy.podspec`.
"""

from __future__ import annotations

import posixpath
from typing import Any

from gitkube.api.quantity import QuantityError, parse_quantity
from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import get_dict, get_int, get_list, get_str
from gitkube.apiserver.strategy.pod_defaults import VOLUME_SOURCES
from gitkube.apiserver.strategy.resources import parse_field
from gitkube.errors import Cause

__all__ = [
    "ENV_FIELD_PATHS",
    "FILE_MODE_MSG",
    "RESOURCE_FIELD_PATHS",
    "VOLUME_FIELD_PATHS",
    "validate_local_descending_path",
    "validate_local_non_reserved_path",
    "validate_object_field_selector",
    "validate_resource_field_selector",
    "validate_volumes",
]

FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid")
RESOURCE_FIELD_PATHS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                        "requests.ephemeral-storage", "requests.memory")
_CONVERTIBLE = frozenset(VOLUME_FIELD_PATHS + ENV_FIELD_PATHS + ("spec.restartPolicy", "spec.schedulerName",
                                                                 "status.phase"))
_CPU_DIVISORS = frozenset({"1m", "1"})
_BYTE_DIVISORS = frozenset({"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"})
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                    "Socket")
# The order (and the path spelling, typos included) in which validateVolumeSource visits sources.
_SOURCE_ORDER = (("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
                 ("gcePersistentDisk", "gcePersistentDisk"), ("awsElasticBlockStore", "awsElasticBlockStore"),
                 ("secret", "secret"), ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
                 ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"), ("rbd", "rbd"),
                 ("cinder", "cinder"), ("cephfs", "cephFS"), ("quobyte", "quobyte"), ("downwardAPI", "downwarAPI"),
                 ("fc", "fc"), ("flexVolume", "flexVolume"), ("configMap", "configMap"), ("azureFile", "azureFile"),
                 ("vsphereVolume", "vsphereVolume"), ("photonPersistentDisk", "photonPersistentDisk"),
                 ("portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk"), ("storageos", "storageos"),
                 ("projected", "projected"), ("scaleIO", "scaleIO"), ("csi", "csi"), ("ephemeral", "ephemeral"),
                 ("image", "image"))
assert {s for s, _ in _SOURCE_ORDER} == set(VOLUME_SOURCES)


def validate_local_descending_path(target: str, path: str) -> list[Cause]:
    out: list[Cause] = []
    if posixpath.isabs(target):
        out.append(c.invalid(path, target, "must be a relative path"))
    if ".." in target.replace("\\", "/").split("/"):
        out.append(c.invalid(path, target, "must not contain '..'"))
    return out


def validate_local_non_reserved_path(target: str, path: str) -> list[Cause]:
    out = validate_local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        out.append(c.invalid(path, target, "must not start with '..'"))
    return out


def _file_mode(obj: Any, name: str, path: str) -> list[Cause]:
    mode = get_int(obj, name)
    if mode is not None and not 0 <= mode <= 0o777:
        return [c.invalid(c.child(path, name), mode, FILE_MODE_MSG)]
    return []


def _key_to_path(item: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not get_str(item, "key"):
        out.append(c.required(c.child(path, "key")))
    target = get_str(item, "path")
    if not target:
        out.append(c.required(c.child(path, "path")))
    out += validate_local_non_reserved_path(target, c.child(path, "path"))
    return out + _file_mode(item, "mode", path)


def _split_subscript(field_path: str) -> tuple[str, str, bool]:
    if not field_path.endswith("']"):
        return field_path, "", False
    head, sep, sub = field_path[:-2].partition("['")
    if not sep or not head:
        return field_path, "", False
    return head, sub, True


def validate_object_field_selector(ref: Any, allowed: tuple[str, ...], path: str) -> list[Cause]:
    """``validateObjectFieldSelector`` for a ``fieldRef``."""
    version = get_str(ref, "apiVersion")
    field_path = get_str(ref, "fieldPath")
    if not version:
        return [c.required(c.child(path, "apiVersion"))]
    if not field_path:
        return [c.required(c.child(path, "fieldPath"))]
    head, sub, subscripted = _split_subscript(field_path)
    error = ""
    if version != "v1":
        error = f"unsupported pod version: {version}"
    elif subscripted and head not in ("metadata.annotations", "metadata.labels"):
        error = f"field label does not support subscript: {field_path}"
    elif not subscripted and field_path not in _CONVERTIBLE and field_path != "spec.host":
        error = f"field label not supported: {field_path}"
    if error:
        return [c.invalid(c.child(path, "fieldPath"), field_path, f"error converting fieldPath: {error}")]
    if subscripted:
        key = sub.lower() if head == "metadata.annotations" else sub
        return [c.invalid(path, key, msg) for msg in names.is_qualified_name(key)]
    converted = "spec.nodeName" if field_path == "spec.host" else field_path
    if converted not in allowed:
        return [c.not_supported(c.child(path, "fieldPath"), converted, sorted(allowed))]
    return []


def validate_resource_field_selector(ref: Any, path: str, *, volume: bool) -> list[Cause]:
    """``validateContainerResourceFieldSelector`` plus the divisor rules."""
    out: list[Cause] = []
    resource = get_str(ref, "resource")
    if volume and not get_str(ref, "containerName"):
        out.append(c.required(c.child(path, "containerName")))
    elif not resource:
        out.append(c.required(c.child(path, "resource")))
    elif resource not in RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        out.append(c.not_supported(c.child(path, "resource"), resource, RESOURCE_FIELD_PATHS))
    divisor = ref.get("divisor") if isinstance(ref, dict) else None
    if divisor is None:
        return out
    try:
        quantity = parse_quantity(divisor)
    except QuantityError as exc:
        return out + [c.invalid(c.child(path, "divisor"), str(divisor), str(exc))]
    if quantity.is_zero():
        return out
    if resource in ("limits.cpu", "requests.cpu") and str(quantity) not in _CPU_DIVISORS:
        out.append(c.invalid(c.child(path, "divisor"), resource,
                             "only divisor's values 1m and 1 are supported with the cpu resource"))
    kinds = {"limits.memory": "memory", "requests.memory": "memory",
             "limits.ephemeral-storage": "local ephemeral storage", "requests.ephemeral-storage": "local ephemeral storage"}
    if resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        kinds[resource] = "hugepages"
    if resource in kinds and str(quantity) not in _BYTE_DIVISORS:
        out.append(c.invalid(c.child(path, "divisor"), resource,
                             "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei "
                             f"are supported with the {kinds[resource]} resource"))
    return out


def _downward_file(item: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    target = get_str(item, "path")
    if not target:
        out.append(c.required(c.child(path, "path")))
    out += validate_local_non_reserved_path(target, c.child(path, "path"))
    field_ref = get_dict(item, "fieldRef")
    resource_ref = get_dict(item, "resourceFieldRef")
    if field_ref:
        out += validate_object_field_selector(field_ref, VOLUME_FIELD_PATHS, c.child(path, "fieldRef"))
        if resource_ref:
            out.append(c.invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif resource_ref:
        out += validate_resource_field_selector(resource_ref, c.child(path, "resourceFieldRef"), volume=True)
    else:
        out.append(c.required(path, "one of fieldRef and resourceFieldRef is required"))
    return out + _file_mode(item, "mode", path)


def _projected(source: dict[str, Any], path: str) -> list[Cause]:
    out = _file_mode(source, "defaultMode", path)
    seen: set[str] = set()

    def claim(target: str, shown: str) -> None:
        if target in seen:
            out.append(c.invalid(path, shown, "conflicting duplicate paths"))
        seen.add(target)

    for i, entry in enumerate(get_list(source, "sources")):
        src_path = c.index(c.child(path, "sources"), i)
        count = 0
        for kind in ("secret", "configMap"):
            ref = get_dict(entry, kind)
            if kind in entry and isinstance(entry.get(kind), dict):
                count += 1
                if not get_str(ref, "name"):
                    out.append(c.required(c.child(src_path, kind, "name")))
                for j, item in enumerate(get_list(ref, "items")):
                    out += _key_to_path(item, c.index(c.child(src_path, kind, "items"), j))
                    if get_str(item, "path"):
                        claim(get_str(item, "path"), get_str(ref, "name"))
        if isinstance(entry, dict) and isinstance(entry.get("downwardAPI"), dict):
            count += 1
            for item in get_list(entry["downwardAPI"], "items"):
                out += _downward_file(item, c.child(src_path, "downwardAPI"))
                if get_str(item, "path"):
                    claim(get_str(item, "path"), get_str(item, "path"))
        if isinstance(entry, dict) and isinstance(entry.get("serviceAccountToken"), dict):
            count += 1
            token = entry["serviceAccountToken"]
            tpath = c.child(src_path, "serviceAccountToken")
            seconds = get_int(token, "expirationSeconds") or 0
            if seconds < 600:
                out.append(c.invalid(c.child(tpath, "expirationSeconds"), seconds,
                                     "may not specify a duration less than 10 minutes"))
            if seconds > 1 << 32:
                out.append(c.invalid(c.child(tpath, "expirationSeconds"), seconds,
                                     "may not specify a duration larger than 2^32 seconds"))
            if not get_str(token, "path"):
                out.append(c.required(c.child(path, "path")))
            else:
                out += validate_local_non_reserved_path(get_str(token, "path"), c.child(path, "path"))
        if isinstance(entry, dict) and isinstance(entry.get("clusterTrustBundle"), dict):
            count += 1
        if count > 1:
            out.append(c.forbidden(src_path, "may not specify more than 1 volume type per source"))
    return out


def _source_fields(kind: str, source: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    if kind == "emptyDir":
        size = source.get("sizeLimit")
        if size is not None:
            quantity, errs = parse_field(size, c.child(path, "sizeLimit"))
            out += errs
            if quantity is not None and quantity.sign() < 0:
                out.append(c.forbidden(c.child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
    elif kind == "hostPath":
        target = get_str(source, "path")
        if not target:
            return [c.required(c.child(path, "path"))]
        if ".." in target.split("/"):
            out.append(c.invalid(c.child(path, "path"), target, "must not contain '..'"))
        host_type = source.get("type")
        if isinstance(host_type, str) and host_type not in _HOST_PATH_TYPES:
            out.append(c.not_supported(c.child(path, "type"), host_type, _HOST_PATH_TYPES))
    elif kind in ("secret", "configMap"):
        name_field = "secretName" if kind == "secret" else "name"
        if not get_str(source, name_field):
            out.append(c.required(c.child(path, name_field)))
        out += _file_mode(source, "defaultMode", path)
        for i, item in enumerate(get_list(source, "items")):
            out += _key_to_path(item, c.index(c.child(path, "items"), i))
    elif kind == "persistentVolumeClaim":
        if not get_str(source, "claimName"):
            out.append(c.required(c.child(path, "claimName")))
    elif kind == "downwardAPI":
        out += _file_mode(source, "defaultMode", path)
        for item in get_list(source, "items"):
            out += _downward_file(item, path)
    elif kind == "projected":
        out += _projected(source, path)
    elif kind == "nfs":
        for name in ("server", "path"):
            if not get_str(source, name):
                out.append(c.required(c.child(path, name)))
        if not get_str(source, "path").startswith("/"):
            out.append(c.invalid(c.child(path, "path"), get_str(source, "path"), "must be an absolute path"))
    elif kind == "gitRepo":
        if not get_str(source, "repository"):
            out.append(c.required(c.child(path, "repository")))
        out += validate_local_descending_path(get_str(source, "directory"), c.child(path, "directory"))
    elif kind == "csi":
        driver = get_str(source, "driver")
        if not driver:
            out.append(c.required(c.child(path, "driver")))
        if len(driver) > 63:
            out.append(c.too_long(c.child(path, "driver"), 63))
        out += [c.invalid(c.child(path, "driver"), driver, m) for m in names.is_dns1123_subdomain(driver.lower())]
    elif kind == "ephemeral":
        if not isinstance(source.get("volumeClaimTemplate"), dict):
            out.append(c.required(c.child(path, "volumeClaimTemplate")))
    return out


def validate_volumes(volumes: Any, path: str, *, is_pod: bool = False) -> tuple[set[str], list[Cause]]:
    """``ValidateVolumes``: returns the usable volume names and the problems found."""
    usable: set[str] = set()
    out: list[Cause] = []
    if not isinstance(volumes, list):
        return usable, out
    for i, volume in enumerate(volumes):
        vpath = c.index(path, i)
        if not isinstance(volume, dict):
            continue
        errs: list[Cause] = []
        count = 0
        for kind, spelled in _SOURCE_ORDER:
            source = volume.get(kind)
            if source is None:
                continue
            if count > 0:
                errs.append(c.forbidden(c.child(vpath, spelled), "may not specify more than 1 volume type"))
                continue
            count += 1
            if isinstance(source, dict):
                errs += _source_fields(kind, source, c.child(vpath, kind))
                if kind == "image" and is_pod and not get_str(source, "reference"):
                    errs.append(c.required(c.child(vpath, "image", "reference")))
        if count == 0:
            errs.append(c.required(vpath, "must specify a volume type"))
        name = get_str(volume, "name")
        name_path = c.child(vpath, "name")
        if not name:
            errs.append(c.required(name_path))
        else:
            errs += [c.invalid(name_path, name, m) for m in names.is_dns1123_label(name)]
        if name in usable:
            errs.append(c.duplicate(name_path, name))
        if errs:
            out += errs
        else:
            usable.add(name)
    return usable, out
