"""Per-kind defaulting and validation, as the Kubernetes API server does them.

The generic registry of the API server calls, for every write of every served kind:

- :func:`default` to apply the kind's defaults in place (``pkg/apis/*/v1/defaults.go`` plus
  the defaulting the registry strategies and default admission plugins do: a Job's generated
  selector, a Namespace's ``kubernetes`` finalizer, a Pod's service account and priority);
  idempotent, so it may run again on every update;
- :func:`validate` to get every semantic problem as a :class:`~gitkube.errors.Cause` worded
  like Kubernetes (``pkg/apis/*/validation``), with ``old`` the stored object on update;
- :func:`to_invalid` to turn those causes into the 422 :class:`~gitkube.errors.Invalid` error
  whose message reads ``Deployment.apps "web" is invalid: [spec.replicas: ...]``.

JSON types and unknown fields are :mod:`gitkube.api.schema`'s job; immutability of
``metadata.name``/``namespace`` and the allocation of Service cluster IPs and node ports are
the registry's (the strategies leave an unset ``clusterIP`` unset, and accept it).

Dispatch is a dict keyed by kind; each strategy module exports a ``STRATEGY``.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.scheme import ResourceInfo
from gitkube.apiserver.strategy import (
    admission,
    apps,
    apps_sets,
    autoscaling,
    batch,
    cluster,
    config,
    endpoints,
    history,
    networking,
    pod,
    quota,
    service,
    storage,
)
from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy.base import KindStrategy
from gitkube.apiserver.strategy.meta import validate_object_meta
from gitkube.errors import Cause, Invalid

__all__ = ["STRATEGIES", "default", "prepare_for_update", "to_invalid", "validate"]

STRATEGIES: dict[str, KindStrategy] = {
    "Pod": pod.STRATEGY,
    "Service": service.STRATEGY,
    "Endpoints": endpoints.ENDPOINTS,
    "Namespace": config.NAMESPACE,
    "ConfigMap": config.CONFIGMAP,
    "Secret": config.SECRET,
    "ServiceAccount": config.SERVICEACCOUNT,
    "ResourceQuota": quota.RESOURCEQUOTA,
    "LimitRange": quota.LIMITRANGE,
    "Node": cluster.NODE,
    "Event": cluster.EVENT,
    "PersistentVolumeClaim": storage.PERSISTENTVOLUMECLAIM,
    "PersistentVolume": storage.PERSISTENTVOLUME,
    "Lease": cluster.LEASE,
    "Deployment": apps.DEPLOYMENT,
    "ReplicaSet": apps.REPLICASET,
    "DaemonSet": apps_sets.DAEMONSET,
    "StatefulSet": apps_sets.STATEFULSET,
    "ControllerRevision": history.CONTROLLERREVISION,
    "Job": batch.JOB,
    "CronJob": batch.CRONJOB,
    "Ingress": networking.INGRESS,
    "HorizontalPodAutoscaler": autoscaling.HPA,
    "ValidatingAdmissionPolicy": admission.POLICY,
    "ValidatingAdmissionPolicyBinding": admission.BINDING,
}


def default(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """Apply the defaults of ``info.kind`` to ``obj`` in place. Idempotent.

    Cluster-scoped kinds lose any ``metadata.namespace`` (the registry's BeforeCreate does
    the same). Kinds without a strategy are left untouched.
    """
    if not isinstance(obj, dict):
        return
    meta = obj.get("metadata")
    if not info.namespaced and isinstance(meta, dict) and "namespace" in meta:
        del meta["namespace"]
    strategy = STRATEGIES.get(info.kind)
    if strategy is not None:
        strategy.default(obj)


def validate(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """Every semantic problem of ``obj`` (after :func:`default`); ``old`` is set on update."""
    if not isinstance(obj, dict):
        return [c.required("metadata.name", "name or generateName is required")]
    strategy = STRATEGIES.get(info.kind)
    if strategy is None:
        return []
    causes = validate_object_meta(
        obj.get("metadata"),
        namespaced=info.namespaced,
        name_fn=strategy.name_fn,
        is_update=old is not None,
        kube_finalizers=strategy.kube_finalizers,
    )
    causes += strategy.validate(obj, old if isinstance(old, dict) else None)
    return c.dedupe(causes)


def prepare_for_update(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Carry over what a full replace may omit but Kubernetes keeps (a Service's allocated
    ``clusterIP``/``clusterIPs``, IP families and node ports). Call before :func:`default`."""
    if info.kind == "Service" and isinstance(obj, dict) and isinstance(old, dict):
        service.carry_allocated(obj, old)


def to_invalid(info: ResourceInfo, name: str, causes: list[Cause]) -> Invalid:
    """The 422 error for ``causes``, with Kubernetes' message and ``details``."""
    qualified = f"{info.kind}.{info.group}" if info.group else info.kind
    parts = list(dict.fromkeys(f"{cause.field}: {cause.message}" for cause in causes))
    aggregate = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(f'{qualified} "{name}" is invalid: {aggregate}', kind=info.kind, name=name,
                   group=info.group, causes=list(causes))
