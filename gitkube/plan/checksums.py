"""Roll workloads when the ConfigMaps and Secrets they use change.

Kubernetes does not restart pods when a ConfigMap or Secret they read changes. gitkube makes the
change roll, as Helm's ``checksum/config`` pattern does, with nothing for the user to write: every
workload's pod template whose containers or volumes refer to ConfigMaps or Secrets that are part of
the same desired state gets the annotation ``gitkube.io/config-checksum``, a SHA-256 over the
referenced objects' data. Changing the data changes the template, and the workload's own rolling
update (maxSurge/maxUnavailable, health-gated by the sync) does the rest.

References followed (containers and init containers): ``env[].valueFrom.configMapKeyRef`` /
``secretKeyRef``, ``envFrom[].configMapRef`` / ``secretRef``; volumes ``configMap``, ``secret`` and
``projected.sources[].configMap|secret``. Objects outside the desired state are not tracked. Jobs
are left alone (their template is immutable); CronJobs get it on their job template. The digest
covers values, so it reveals nothing usable about them; it is never shown as a value in diffs of
Secrets because it lives on the workload. Pure; called by the engine's pipeline before planning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.plan.model import Desired

__all__ = ["CHECKSUM_ANNOTATION", "referenced", "with_config_checksums"]

CHECKSUM_ANNOTATION = "gitkube.io/config-checksum"
_WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
              ("batch", "CronJob")}


def _pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def _refs(pod_spec: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for group in ("containers", "initContainers"):
        for container in pod_spec.get(group) or []:
            for env in container.get("env") or []:
                source = (env or {}).get("valueFrom") or {}
                if (source.get("configMapKeyRef") or {}).get("name"):
                    yield "ConfigMap", source["configMapKeyRef"]["name"]
                if (source.get("secretKeyRef") or {}).get("name"):
                    yield "Secret", source["secretKeyRef"]["name"]
            for env_from in container.get("envFrom") or []:
                if ((env_from or {}).get("configMapRef") or {}).get("name"):
                    yield "ConfigMap", env_from["configMapRef"]["name"]
                if ((env_from or {}).get("secretRef") or {}).get("name"):
                    yield "Secret", env_from["secretRef"]["name"]
    for volume in pod_spec.get("volumes") or []:
        volume = volume or {}
        if (volume.get("configMap") or {}).get("name"):
            yield "ConfigMap", volume["configMap"]["name"]
        if (volume.get("secret") or {}).get("secretName"):
            yield "Secret", volume["secret"]["secretName"]
        for source in (volume.get("projected") or {}).get("sources") or []:
            if ((source or {}).get("configMap") or {}).get("name"):
                yield "ConfigMap", source["configMap"]["name"]
            if ((source or {}).get("secret") or {}).get("name"):
                yield "Secret", source["secret"]["name"]


def referenced(obj: Mapping[str, Any]) -> set[ObjectKey]:
    """The ConfigMaps and Secrets a workload's pod template refers to (keys in its namespace)."""
    key = ObjectKey.of(obj)
    if (key.group, key.kind) not in _WORKLOADS:
        return set()
    template = _pod_template(obj)
    if template is None:
        return set()
    return {ObjectKey("", kind, key.namespace, str(name)) for kind, name in _refs(template.get("spec") or {})}


def _digest(obj: Mapping[str, Any]) -> str:
    content = {k: obj.get(k) for k in ("data", "binaryData", "stringData") if obj.get(k)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def with_config_checksums(desired: list[Desired]) -> list[Desired]:
    """``desired`` with the checksum annotation on every workload that uses desired ConfigMaps or
    Secrets; other objects (and workloads using none) are returned as they are."""
    configs: dict[ObjectKey, Mapping[str, Any]] = {}
    for item in desired:
        key = ObjectKey.of(item.obj)
        if key.group == "" and key.kind in ("ConfigMap", "Secret"):
            configs[key] = item.obj
    if not configs:
        return desired
    out: list[Desired] = []
    for item in desired:
        refs = sorted(k for k in referenced(item.obj) if k in configs)
        if not refs:
            out.append(item)
            continue
        summary = hashlib.sha256("\n".join(f"{k} {_digest(configs[k])}" for k in refs).encode()).hexdigest()
        out.append(Desired(_annotated(item.obj, summary), item.source))
    return out


def _annotated(obj: Mapping[str, Any], checksum: str) -> dict[str, Any]:
    """A copy of ``obj`` with the annotation on its pod template (copies only along that path)."""
    out = dict(obj)
    spec = dict(out.get("spec") or {})
    out["spec"] = spec
    holder = spec
    if obj.get("kind") == "CronJob":
        job = dict(spec.get("jobTemplate") or {})
        spec["jobTemplate"] = job
        holder = dict(job.get("spec") or {})
        job["spec"] = holder
    template = dict(holder.get("template") or {})
    holder["template"] = template
    meta = dict(template.get("metadata") or {})
    template["metadata"] = meta
    meta["annotations"] = {**(meta.get("annotations") or {}), CHECKSUM_ANNOTATION: checksum}
    return out
