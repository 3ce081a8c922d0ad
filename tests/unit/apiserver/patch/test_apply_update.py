"""Field ownership of ordinary writes: track_update and the managedFields it keeps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from gitkube.apiserver.patch import manager_or_user_agent, server_side_apply, track_update
from gitkube.apiserver.patch.apply_managed import MAX_UPDATE_MANAGERS

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T11:00:00Z"

# A Deployment as the API server stores it after `kubectl create deployment nginx --image=nginx`
# (defaults filled in, server metadata set).
CREATED = yaml.safe_load(
    """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: default
  uid: 7f0c
  resourceVersion: "1"
  generation: 1
  creationTimestamp: "2024-05-01T10:00:00Z"
  labels: {app: nginx}
spec:
  progressDeadlineSeconds: 600
  replicas: 1
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: nginx}}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
    type: RollingUpdate
  template:
    metadata:
      creationTimestamp: null
      labels: {app: nginx}
    spec:
      containers:
      - image: nginx
        imagePullPolicy: Always
        name: nginx
        ports: [{containerPort: 80, protocol: TCP}]
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
status: {}
"""
)

# What Kubernetes records for that create (manager kubectl-create).
KUBECTL_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {},
        "f:replicas": {},
        "f:revisionHistoryLimit": {},
        "f:selector": {},
        "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:ports": {
                            ".": {},
                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                                "f:protocol": {},
                            },
                        },
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def _track(
    old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = T1, **kw: Any
) -> dict[str, Any]:
    track_update(
        old,
        new,
        manager=manager,
        api_version=kw.pop("api_version", "apps/v1"),
        kind=kw.pop("kind", "Deployment"),
        now=now,
        **kw,
    )
    return new


def _created() -> dict[str, Any]:
    return _track(None, copy.deepcopy(CREATED), "kubectl-create", now=T0)


def _fields(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    fields: dict[str, Any] = entry["fieldsV1"]
    return fields


def test_create_matches_kubernetes_fields_v1() -> None:
    obj = _created()
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": KUBECTL_CREATE_FIELDS,
        }
    ]


def test_an_update_takes_the_fields_it_changes() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    new["metadata"]["labels"]["tier"] = "web"
    _track(old, new, "kubectl-edit")
    entries = new["metadata"]["managedFields"]
    assert [(e["manager"], e["time"]) for e in entries] == [("kubectl-create", T0), ("kubectl-edit", T1)]
    assert _fields(new, "kubectl-edit") == {
        "f:metadata": {"f:labels": {"f:tier": {}}},
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {"f:image": {}}}}}},
    }
    creator = _fields(new, "kubectl-create")["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"nginx"}'
    ]
    assert "f:image" not in creator and "f:name" in creator


def test_removed_fields_leave_every_manager() -> None:
    old = _created()
    new = copy.deepcopy(old)
    del new["spec"]["strategy"]["rollingUpdate"]
    new["spec"]["strategy"]["type"] = "Recreate"
    _track(old, new, "kubectl-patch")
    # rollingUpdate was removed (from everyone), type was changed (taken by the writer)
    assert "f:strategy" not in _fields(new, "kubectl-create")["f:spec"]
    assert _fields(new, "kubectl-patch") == {"f:spec": {"f:strategy": {"f:type": {}}}}


def test_a_write_that_changes_nothing_keeps_managed_fields_verbatim() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "2"
    original = copy.deepcopy(old["metadata"]["managedFields"])
    _track(old, new, "kubectl-edit")
    assert new["metadata"]["managedFields"] == original


def test_a_new_update_manager_per_api_version_and_subresource() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1}
    _track(old, new, "kube-controller-manager", subresource="status")
    newer = copy.deepcopy(new)
    newer["spec"]["replicas"] = 3
    _track(new, newer, "kube-controller-manager")
    identities = [(e["manager"], e.get("subresource", "")) for e in newer["metadata"]["managedFields"]]
    assert identities == [
        ("kubectl-create", ""),
        ("kube-controller-manager", ""),
        ("kube-controller-manager", "status"),
    ]
    assert _fields(new, "kube-controller-manager") == {"f:status": {"f:replicas": {}}}


def test_status_changes_on_the_main_resource_are_not_owned() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1}
    new["metadata"]["annotations"] = {"a": "b"}
    _track(old, new, "kubectl-replace")
    assert _fields(new, "kubectl-replace") == {"f:metadata": {"f:annotations": {".": {}, "f:a": {}}}}


@pytest.mark.parametrize("reset", [[], [{}]])
def test_empty_managed_fields_from_a_client_reset_them(reset: list[Any]) -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = reset
    _track(old, new, "kubectl-patch")
    assert "managedFields" not in new["metadata"]


def test_reset_keeps_only_the_writers_own_changes() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = []
    new["spec"]["replicas"] = 4
    _track(old, new, "kubectl-patch")
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["kubectl-patch"]
    assert _fields(new, "kubectl-patch") == {"f:spec": {"f:replicas": {}}}


def test_client_written_managed_fields_are_kept_like_the_kubectl_upgrade() -> None:
    old = _created()
    written = [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    ]
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = copy.deepcopy(written)
    _track(old, new, "kubectl")
    assert new["metadata"]["managedFields"] == written
    # the applier now owns what it was given: dropping replicas from its config removes it
    config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx"},
        "spec": {"paused": True},
    }
    applied = server_side_apply(
        new, config, manager="kubectl", force=False, api_version="apps/v1", kind="Deployment", now=T1
    )
    assert "replicas" not in applied["spec"]


def test_undecodable_client_managed_fields_keep_the_stored_ones() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = [
        {"manager": "x", "operation": "Sideways", "apiVersion": "v1", "fieldsType": "FieldsV1"}
    ]
    _track(old, new, "kubectl-patch")
    assert new["metadata"]["managedFields"] == old["metadata"]["managedFields"]


def test_subresource_writes_ignore_managed_fields_in_the_request() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = []
    new["status"] = {"readyReplicas": 1}
    _track(old, new, "kubelet", subresource="status")
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["kubectl-create", "kubelet"]


def test_old_update_managers_are_merged_into_ancient_changes() -> None:
    obj = _created()
    for i in range(MAX_UPDATE_MANAGERS + 1):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("annotations", {})[f"k{i}"] = "v"
        _track(obj, new, f"editor-{i:02d}", now=f"2024-05-02T10:{i:02d}:00Z")
        obj = new
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == MAX_UPDATE_MANAGERS
    assert "ancient-changes" in managers and "kubectl-create" not in managers and "editor-00" not in managers
    assert "editor-10" in managers


def test_entries_sort_apply_first_then_by_time() -> None:
    obj = server_side_apply(
        None,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
        manager="kubectl",
        force=False,
        api_version="v1",
        kind="ConfigMap",
        now=T1,
    )
    new = copy.deepcopy(obj)
    new["data"]["b"] = "2"
    track_update(obj, new, manager="editor", api_version="v1", kind="ConfigMap", now=T0)
    assert [(e["manager"], e["operation"]) for e in new["metadata"]["managedFields"]] == [
        ("kubectl", "Apply"),
        ("editor", "Update"),
    ]
    assert new["metadata"]["managedFields"][1]["fieldsV1"] == {"f:data": {"f:b": {}}}


@pytest.mark.parametrize(
    ("manager", "agent", "want"),
    [
        ("kubectl-edit", "kubectl/v1.32.0 (linux/amd64)", "kubectl-edit"),
        ("", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"),
        (None, "OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
        ("", "Go-http-client/1.1", "Go-http-client"),
        ("", "a\x00b", "ab"),
    ],
)
def test_manager_or_user_agent(manager: str | None, agent: str, want: str) -> None:
    assert manager_or_user_agent(manager, agent) == want
