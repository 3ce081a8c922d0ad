"""Printers for apps/v1 workloads, ported from Kubernetes 1.32 ``printers.go``.

- Deployment: NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR
  (READY is ``status.readyReplicas/spec.replicas``; the selector prints "" when empty and
  ``<invalid>`` when it cannot be parsed, as ``printDeployment`` does).
- ReplicaSet: NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR
- DaemonSet: NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE | ...
- StatefulSet: NAME READY AGE | CONTAINERS IMAGES

Counts are integer cells, as the Go printers send ``int64``. ``spec.replicas`` prints as its
default, 1, when absent. Used through ``gitkube.apiserver.printers.PRINTERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube import errors
from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer, describe
from gitkube.apiserver.printers.format import (
    format_label_selector,
    format_labels,
    label_selector_string,
    layout_container_cells,
    translate_timestamp_since,
)

__all__ = ["DAEMONSET", "DEPLOYMENT", "REPLICASET", "STATEFULSET"]

_CONTAINERS = Column("Containers", priority=1, description="Names of each container in the template.")
_IMAGES = Column("Images", priority=1, description="Images referenced by each container in the template.")


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _common(obj: Mapping[str, Any], now: datetime) -> tuple[str, str, Mapping[str, Any], Mapping[str, Any]]:
    meta = obj.get("metadata") or {}
    age = translate_timestamp_since(meta.get("creationTimestamp"), now)
    return str(meta.get("name") or ""), age, obj.get("spec") or {}, obj.get("status") or {}


def _template_containers(spec: Mapping[str, Any]) -> tuple[str, str]:
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    return layout_container_cells(pod_spec.get("containers"))


def _deployment(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age, spec, status = _common(obj, now)
    try:
        selector = label_selector_string(spec.get("selector"))
    except errors.APIError:
        selector = "<invalid>"
    names, images = _template_containers(spec)
    return [
        name,
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        age,
        names,
        images,
        selector,
    ]


DEPLOYMENT = Printer(
    columns=(
        NAME,
        Column("Ready", description="Number of the pod with ready state"),
        Column("Up-to-date", description=describe("DeploymentStatus.updatedReplicas")),
        Column("Available", description=describe("DeploymentStatus.availableReplicas")),
        AGE,
        _CONTAINERS,
        _IMAGES,
        Column("Selector", priority=1, description=describe("DeploymentSpec.selector")),
    ),
    row=_deployment,
)


def _replicaset(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age, spec, status = _common(obj, now)
    names, images = _template_containers(spec)
    return [
        name,
        _int(spec.get("replicas"), 1),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        age,
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


REPLICASET = Printer(
    columns=(
        NAME,
        Column("Desired", type="integer", description=describe("ReplicaSetSpec.replicas")),
        Column("Current", type="integer", description=describe("ReplicaSetStatus.replicas")),
        Column("Ready", type="integer", description=describe("ReplicaSetStatus.readyReplicas")),
        AGE,
        _CONTAINERS,
        _IMAGES,
        Column("Selector", priority=1, description=describe("ReplicaSetSpec.selector")),
    ),
    row=_replicaset,
)


def _daemonset(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age, spec, status = _common(obj, now)
    names, images = _template_containers(spec)
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    return [
        name,
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(pod_spec.get("nodeSelector")),
        age,
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


DAEMONSET = Printer(
    columns=(
        NAME,
        Column("Desired", type="integer", description=describe("DaemonSetStatus.desiredNumberScheduled")),
        Column("Current", type="integer", description=describe("DaemonSetStatus.currentNumberScheduled")),
        Column("Ready", type="integer", description=describe("DaemonSetStatus.numberReady")),
        Column("Up-to-date", type="integer", description=describe("DaemonSetStatus.updatedNumberScheduled")),
        Column("Available", type="integer", description=describe("DaemonSetStatus.numberAvailable")),
        Column("Node Selector", description=describe("PodSpec.nodeSelector")),
        AGE,
        _CONTAINERS,
        _IMAGES,
        Column("Selector", priority=1, description=describe("DaemonSetSpec.selector")),
    ),
    row=_daemonset,
)


def _statefulset(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age, spec, status = _common(obj, now)
    names, images = _template_containers(spec)
    return [
        name,
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
        age,
        names,
        images,
    ]


STATEFULSET = Printer(
    columns=(
        NAME,
        Column("Ready", description="Number of the pod with ready state"),
        AGE,
        _CONTAINERS,
        _IMAGES,
    ),
    row=_statefulset,
)
