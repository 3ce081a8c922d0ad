"""Pod volumes materialized on the host, and the mounts of each container.

``materialize`` writes every volume of a pod under ``DATA/pods/<ns>_<pod>_<uid>/volumes/
<name>/``: emptyDir (a directory), configMap, secret, downwardAPI and projected (files
with ``items``/keys, ``defaultMode``/``mode``, ``optional``), and hostPath (the host path
itself, created for ``DirectoryOrCreate``/``FileOrCreate``, checked for the other types).
Re-running it refreshes the files (ConfigMap updates reach running pods, as the kubelet's
atomic writer does) and removes keys that went away. A missing non-optional source raises
``errors.RuntimeFailure`` worded as the kubelet's ``MountVolume.SetUp failed ...``.

``container_mounts`` turns a container's ``volumeMounts`` (``subPath``, ``readOnly``)
into runtime ``Mount`` s. Called by ``gitkube.agent.podworker``.

``persistentVolumeClaim`` volumes: ``resolve_claims`` follows each claim (through the API
client) to its bound PersistentVolume and that volume's ``hostPath`` (or ``local``) directory;
``materialize`` takes the result as ``claims`` and binds the directory. A claim that is missing,
not yet bound, or whose volume has no local path fails the mount (FailedMount, retried).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent import envvars
from gitkube.agent.runtime_api import Mount
from gitkube.client import Client

__all__ = ["FAILED_MOUNT", "container_mounts", "materialize", "remove", "resolve_claims", "volume_dir"]

Obj = dict[str, Any]
FAILED_MOUNT = "FailedMount"
_READ_ONLY_KINDS = ("configMap", "secret", "downwardAPI", "projected")


def volume_dir(pod_dir: Path, name: str) -> Path:
    return pod_dir / "volumes" / name


def _fail(volume: str, message: str) -> errors.RuntimeFailure:
    return errors.RuntimeFailure(f'MountVolume.SetUp failed for volume "{volume}" : {message}', reason=FAILED_MOUNT)


def _raw(obj: Obj, *, secret: bool) -> dict[str, bytes]:
    if secret:
        out = {str(k): base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        out.update({str(k): str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        return out
    out = {str(k): str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({str(k): base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def _key_files(volume: str, kind: str, source: Obj, objects: Mapping[str, Obj], default_mode: int) -> dict[str, tuple[bytes, int]]:
    name = str(source.get("secretName") or source.get("name") or "")
    obj = objects.get(name)
    optional = bool(source.get("optional"))
    if obj is None:
        if optional:
            return {}
        raise _fail(volume, f'{kind} "{name}" not found')
    data = _raw(obj, secret=kind == "secret")
    items = source.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    files: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = str(item.get("key"))
        if key not in data:
            if optional:
                continue
            raise _fail(volume, f"{kind} references non-existent config key: {key}")
        files[str(item.get("path") or key)] = (data[key], int(item.get("mode", default_mode)))
    return files


def _downward_files(source: Obj, facts: envvars.PodFacts, default_mode: int) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {}
    containers = (facts.pod.get("spec") or {}).get("containers") or [{}]
    for item in source.get("items") or []:
        mode = int(item.get("mode", default_mode))
        if item.get("fieldRef"):
            text = envvars.field_value(str(item["fieldRef"].get("fieldPath", "")), facts)
        elif item.get("resourceFieldRef"):
            ref = item["resourceFieldRef"]
            container = next((c for c in containers if c.get("name") == ref.get("containerName")), containers[0])
            text = envvars.resource_field_value(ref, container)
        else:
            continue
        files[str(item["path"])] = (text.encode(), mode)
    return files


def _write_files(target: Path, files: Mapping[str, tuple[bytes, int]], *, secret: bool, gid: int | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o750 if secret and gid is not None else 0o755)
    if gid is not None:
        os.chown(target, -1, gid)
    wanted: set[Path] = set()
    for rel, (data, mode) in files.items():
        path = target / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, mode & 0o777)
        if gid is not None:
            os.chown(tmp, -1, gid)
        os.replace(tmp, path)
        wanted.add(path)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _host_path(volume: str, source: Obj) -> Path:
    path = Path(str(source.get("path", "")))
    kind = str(source.get("type") or "")
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif kind == "FileOrCreate":
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o644)
    elif kind == "Directory" and not path.is_dir():
        raise _fail(volume, f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not path.is_file():
        raise _fail(volume, f"hostPath type check failed: {path} is not a file")
    elif kind == "Socket" and not path.is_socket():
        raise _fail(volume, f"hostPath type check failed: {path} is not a socket file")
    return path


async def resolve_claims(client: Client, pod: Obj) -> dict[str, Path]:
    """Volume name -> the host directory of the PersistentVolume bound to its claim."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    out: dict[str, Path] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        source = vol.get("persistentVolumeClaim")
        if isinstance(source, dict):
            out[str(vol["name"])] = await _claim_directory(client, str(vol["name"]), str(source.get("claimName") or ""),
                                                           namespace)
    return out


async def _claim_directory(client: Client, name: str, claim_name: str, namespace: str) -> Path:
    try:
        claim = await client.get("persistentvolumeclaims", claim_name, namespace)
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if not volume_name or (claim.get("status") or {}).get("phase") != "Bound":
            raise _fail(name, f'persistentvolumeclaim "{claim_name}" is not bound')
        volume = await client.get("persistentvolumes", volume_name)
    except errors.NotFound as exc:
        raise _fail(name, exc.message) from None
    except errors.APIError as exc:
        raise _fail(name, f'cannot read persistentvolumeclaim "{claim_name}": {exc.message}') from None
    vspec = volume.get("spec") or {}
    local = vspec.get("hostPath") or vspec.get("local") or {}
    if not local.get("path"):
        raise _fail(name, f'persistentvolume "{volume_name}": only hostPath and local volumes are supported')
    return Path(str(local["path"]))


def _claim_path(name: str, source: Obj, claims: Mapping[str, Path] | None) -> Path:
    path = (claims or {}).get(name)
    if path is None:
        raise _fail(name, f'persistentvolumeclaim "{source.get("claimName")}" is not bound')
    path.mkdir(parents=True, exist_ok=True)
    return path


def materialize(pod: Obj, pod_dir: Path, facts: envvars.PodFacts, *, configmaps: Mapping[str, Obj],
                secrets: Mapping[str, Obj], claims: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Write the pod's volumes; returns volume name -> host path (``claims`` from ``resolve_claims``)."""
    spec = pod.get("spec") or {}
    gid = (spec.get("securityContext") or {}).get("fsGroup")
    out: dict[str, Path] = {}
    for vol in spec.get("volumes") or []:
        name = str(vol["name"])
        target = volume_dir(pod_dir, name)
        if "emptyDir" in vol:
            target.mkdir(parents=True, exist_ok=True)
            os.chmod(target, 0o777)
            out[name] = target
        elif "hostPath" in vol:
            out[name] = _host_path(name, vol["hostPath"])
        elif "persistentVolumeClaim" in vol:
            out[name] = _claim_path(name, vol["persistentVolumeClaim"], claims)
        elif "configMap" in vol or "secret" in vol:
            kind = "configMap" if "configMap" in vol else "secret"
            src = vol[kind]
            mode = int(src.get("defaultMode", 0o644))
            objects = configmaps if kind == "configMap" else secrets
            _write_files(target, _key_files(name, kind.lower(), src, objects, mode), secret=kind == "secret", gid=gid)
            out[name] = target
        elif "downwardAPI" in vol:
            src = vol["downwardAPI"]
            _write_files(target, _downward_files(src, facts, int(src.get("defaultMode", 0o644))), secret=False, gid=gid)
            out[name] = target
        elif "projected" in vol:
            src = vol["projected"]
            mode = int(src.get("defaultMode", 0o644))
            files: dict[str, tuple[bytes, int]] = {}
            secret = False
            for s in src.get("sources") or []:
                if s.get("configMap"):
                    files.update(_key_files(name, "configmap", s["configMap"], configmaps, mode))
                elif s.get("secret"):
                    secret = True
                    files.update(_key_files(name, "secret", s["secret"], secrets, mode))
                elif s.get("downwardAPI"):
                    files.update(_downward_files(s["downwardAPI"], facts, mode))
            _write_files(target, files, secret=secret, gid=gid)
            out[name] = target
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise _fail(name, f"volume type {', '.join(kinds) or '<none>'} is not supported by gitkube")
    return out


def container_mounts(pod: Obj, container: Obj, volumes: Mapping[str, Path]) -> tuple[Mount, ...]:
    """The runtime mounts of ``container`` from its ``volumeMounts``."""
    kinds = {str(v["name"]): next((k for k in _READ_ONLY_KINDS if k in v), "") for v in (pod.get("spec") or {}).get("volumes") or []}
    claim_read_only = {str(v["name"]) for v in (pod.get("spec") or {}).get("volumes") or []
                       if ((v.get("persistentVolumeClaim") or {}).get("readOnly"))}
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = str(vm["name"])
        if name not in volumes:
            raise errors.RuntimeFailure(f'unable to find volume "{name}" for container "{container.get("name")}"',
                                        reason="CreateContainerConfigError")
        host = volumes[name]
        sub = str(vm.get("subPath") or "")
        if sub:
            host = host / sub
            if kinds.get(name) == "" and not host.exists():
                host.mkdir(parents=True, exist_ok=True)
        read_only = bool(vm.get("readOnly")) or kinds.get(name, "") != "" or name in claim_read_only
        mounts.append(Mount(host_path=host, container_path=str(vm["mountPath"]), read_only=read_only))
    return tuple(mounts)


def remove(pod_dir: Path) -> None:
    """Remove a finished pod's volume data (hostPath volumes are never under pod_dir)."""
    shutil.rmtree(pod_dir / "volumes", ignore_errors=True)
