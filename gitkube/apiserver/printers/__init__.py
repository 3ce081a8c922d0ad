"""Server-side printers: the columns and cells ``kubectl get`` shows for every served kind.

Kubernetes' API server renders ``kubectl get`` output itself: asked for
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` it answers a ``meta.k8s.io/v1``
Table whose columns and cells come from ``pkg/printers/internalversion/printers.go``. This
package is the port of those printers for the kinds gitkube serves, one module per API
group (``pod`` and ``core`` for core/v1, ``apps``, ``batch``, ``other``), plus ``format``
for ages and selectors. ``gitkube.apiserver.table.to_table`` assembles the Table.

:func:`printer_for` picks a printer by API group and kind; kinds without one get
``other.FALLBACK`` (NAME and an Age date column, like a CRD without printer columns).
"""

from __future__ import annotations

from gitkube.apiserver.printers import apps, batch, core, history, other, pod, storage
from gitkube.apiserver.printers.base import Column, Printer

__all__ = ["PRINTERS", "Column", "Printer", "printer_for"]

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): pod.POD,
    ("", "Namespace"): core.NAMESPACE,
    ("", "Service"): core.SERVICE,
    ("", "Endpoints"): core.ENDPOINTS,
    ("", "ConfigMap"): core.CONFIGMAP,
    ("", "Secret"): core.SECRET,
    ("", "ServiceAccount"): core.SERVICEACCOUNT,
    ("", "ResourceQuota"): core.RESOURCEQUOTA,
    ("", "LimitRange"): core.LIMITRANGE,
    ("", "Node"): core.NODE,
    ("", "Event"): core.EVENT,
    ("", "PersistentVolumeClaim"): storage.PERSISTENTVOLUMECLAIM,
    ("", "PersistentVolume"): storage.PERSISTENTVOLUME,
    ("apps", "Deployment"): apps.DEPLOYMENT,
    ("apps", "ReplicaSet"): apps.REPLICASET,
    ("apps", "DaemonSet"): apps.DAEMONSET,
    ("apps", "StatefulSet"): apps.STATEFULSET,
    ("apps", "ControllerRevision"): history.CONTROLLERREVISION,
    ("batch", "Job"): batch.JOB,
    ("batch", "CronJob"): batch.CRONJOB,
    ("networking.k8s.io", "Ingress"): other.INGRESS,
    ("autoscaling", "HorizontalPodAutoscaler"): other.HPA,
    ("coordination.k8s.io", "Lease"): other.LEASE,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): other.VALIDATING_ADMISSION_POLICY,
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ): other.VALIDATING_ADMISSION_POLICY_BINDING,
}
"""Printers by (API group, kind); the group is "" for core/v1."""


def printer_for(group: str, kind: str) -> Printer:
    """The printer of a kind, or the NAME/AGE fallback when Kubernetes has none for it."""
    return PRINTERS.get((group, kind), other.FALLBACK)
