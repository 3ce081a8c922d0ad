"""Well-known label, annotation, taint and condition names, defined once.

Kubernetes' own names (``pod-template-hash``, ``deployment.kubernetes.io/revision``,
``node.kubernetes.io/not-ready`` ...) are what kubectl and users look for; gitkube's own
live under ``gitkube.io/``. Pure constants, imported by controllers, scheduler, agent,
proxy and the GitOps engine.
"""

from __future__ import annotations

__all__ = [
    "ANNOTATION_CHANGE_CAUSE",
    "ANNOTATION_DEFAULT_CONTAINER",
    "ANNOTATION_DESIRED_REPLICAS",
    "ANNOTATION_MAX_REPLICAS",
    "ANNOTATION_RESTARTED_AT",
    "ANNOTATION_REVISION",
    "ANNOTATION_REVISION_HISTORY",
    "LABEL_HOSTNAME",
    "LABEL_METADATA_NAME",
    "LABEL_OS",
    "LABEL_POD_TEMPLATE_HASH",
    "LEASE_NAMESPACE",
    "NODE_ROLE_CONTROL_PLANE",
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "TAINT_UNSCHEDULABLE",
]

LABEL_POD_TEMPLATE_HASH = "pod-template-hash"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_METADATA_NAME = "kubernetes.io/metadata.name"
NODE_ROLE_CONTROL_PLANE = "node-role.kubernetes.io/control-plane"

ANNOTATION_REVISION = "deployment.kubernetes.io/revision"
ANNOTATION_REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
ANNOTATION_DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
ANNOTATION_MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ANNOTATION_CHANGE_CAUSE = "kubernetes.io/change-cause"
ANNOTATION_RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ANNOTATION_DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

# Node heartbeats are Leases named after the node in this namespace.
LEASE_NAMESPACE = "kube-node-lease"
