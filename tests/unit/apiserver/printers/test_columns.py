"""Column sets per kind, as Kubernetes 1.32 defines them in ``printers.go``.

``kubectl get`` prints the names upper-cased and shows priority-1 columns only with
``-o wide``; the ``name`` format marks the column kubectl prefixes with ``kind/`` in
multi-type output.
"""

from __future__ import annotations

import pytest

from gitkube.api import scheme
from gitkube.apiserver import printers
from gitkube.apiserver.printers import other

# (name, priority) per column; "*" marks the column with format "name".
EXPECTED: dict[str, list[tuple[str, int]]] = {
    "Pod": [
        ("*Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ],
    "Namespace": [("*Name", 0), ("Status", 0), ("Age", 0)],
    "Service": [
        ("*Name", 0),
        ("Type", 0),
        ("Cluster-IP", 0),
        ("External-IP", 0),
        ("Port(s)", 0),
        ("Age", 0),
        ("Selector", 1),
    ],
    "Endpoints": [("*Name", 0), ("Endpoints", 0), ("Age", 0)],
    "ConfigMap": [("*Name", 0), ("Data", 0), ("Age", 0)],
    "Secret": [("*Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
    "ServiceAccount": [("*Name", 0), ("Secrets", 0), ("Age", 0)],
    "ResourceQuota": [("*Name", 0), ("Request", 0), ("Limit", 0), ("Age", 0)],
    "LimitRange": [("*Name", 0), ("Created At", 0)],
    "Node": [
        ("*Name", 0),
        ("Status", 0),
        ("Roles", 0),
        ("Age", 0),
        ("Version", 0),
        ("Internal-IP", 1),
        ("External-IP", 1),
        ("OS-Image", 1),
        ("Kernel-Version", 1),
        ("Container-Runtime", 1),
    ],
    "Event": [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("*Name", 1),
    ],
    "Deployment": [
        ("*Name", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ],
    "ReplicaSet": [
        ("*Name", 0),
        ("Desired", 0),
        ("Current", 0),
        ("Ready", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ],
    "DaemonSet": [
        ("*Name", 0),
        ("Desired", 0),
        ("Current", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Node Selector", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ],
    "StatefulSet": [("*Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)],
    "ControllerRevision": [("*Name", 0), ("Controller", 0), ("Revision", 0), ("Age", 0)],
    "Job": [
        ("*Name", 0),
        ("Status", 0),
        ("Completions", 0),
        ("Duration", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ],
    "CronJob": [
        ("*Name", 0),
        ("Schedule", 0),
        ("Timezone", 0),
        ("Suspend", 0),
        ("Active", 0),
        ("Last Schedule", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ],
    "Ingress": [("*Name", 0), ("Class", 0), ("Hosts", 0), ("Address", 0), ("Ports", 0), ("Age", 0)],
    "HorizontalPodAutoscaler": [
        ("*Name", 0),
        ("Reference", 0),
        ("Targets", 0),
        ("MinPods", 0),
        ("MaxPods", 0),
        ("Replicas", 0),
        ("Age", 0),
    ],
    "Lease": [("*Name", 0), ("Holder", 0), ("Age", 0)],
    "PersistentVolumeClaim": [
        ("*Name", 0),
        ("Status", 0),
        ("Volume", 0),
        ("Capacity", 0),
        ("Access Modes", 0),
        ("StorageClass", 0),
        ("VolumeAttributesClass", 0),
        ("Age", 0),
        ("VolumeMode", 1),
    ],
    "PersistentVolume": [
        ("*Name", 0),
        ("Capacity", 0),
        ("Access Modes", 0),
        ("Reclaim Policy", 0),
        ("Status", 0),
        ("Claim", 0),
        ("StorageClass", 0),
        ("VolumeAttributesClass", 0),
        ("Reason", 0),
        ("Age", 0),
        ("VolumeMode", 1),
    ],
    "ValidatingAdmissionPolicy": [("*Name", 0), ("Validations", 0), ("ParamKind", 0), ("Age", 0)],
    "ValidatingAdmissionPolicyBinding": [("*Name", 0), ("PolicyName", 0), ("ParamRef", 0), ("Age", 0)],
}


def test_every_served_kind_has_its_own_printer() -> None:
    for info in scheme.ALL_RESOURCES:
        assert printers.printer_for(info.group, info.kind) is not other.FALLBACK, info.kind
    assert set(EXPECTED) == {info.kind for info in scheme.ALL_RESOURCES}


@pytest.mark.parametrize("info", scheme.ALL_RESOURCES, ids=lambda info: info.kind)
def test_column_names_priorities_and_name_format(info: scheme.ResourceInfo) -> None:
    columns = [c.to_dict() for c in printers.printer_for(info.group, info.kind).columns]
    shown = [(("*" if c["format"] == "name" else "") + c["name"], c["priority"]) for c in columns]
    assert shown == EXPECTED[info.kind]
    for column in columns:
        assert list(column) == ["name", "type", "format", "description", "priority"]
        assert column["description"]
        assert column["type"] in ("string", "integer", "boolean", "date")


def test_column_types_follow_kubernetes() -> None:
    def types(group: str, kind: str) -> list[str]:
        return [c.type for c in printers.printer_for(group, kind).columns]

    assert types("apps", "ReplicaSet")[1:4] == ["integer", "integer", "integer"]
    assert types("apps", "Deployment")[1:4] == ["string", "string", "string"]
    assert types("batch", "CronJob")[3:5] == ["boolean", "integer"]
    assert types("", "Pod")[3] == "string"  # RESTARTS became a string with "(5s ago)" in 1.28
    assert types("", "LimitRange") == ["string", "date"]


def test_unknown_kind_gets_name_and_age_date_column() -> None:
    printer = printers.printer_for("example.com", "Widget")
    assert printer is other.FALLBACK
    assert [(c.name, c.type, c.format) for c in printer.columns] == [
        ("Name", "string", "name"),
        ("Age", "date", ""),
    ]
