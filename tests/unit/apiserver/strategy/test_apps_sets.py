"""DaemonSet and StatefulSet defaults and validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.apiserver.strategy.apps_sets import STATEFULSET_UPDATE_FORBIDDEN

from . import causes_of, container, defaulted, pod_template, run


def daemonset(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template()}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
            "spec": body}


def statefulset(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template(),
                            "serviceName": "db"}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": body}


def test_daemonset_defaults() -> None:
    spec = defaulted("DaemonSet", daemonset())["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    on_delete = defaulted("DaemonSet", daemonset(updateStrategy={"type": "OnDelete"}))["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}


DAEMONSET_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}},
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "Required value: cannot be 0 when maxSurge is 0"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}},
     "spec.updateStrategy.rollingUpdate.maxSurge", "Invalid value: 1: may not be set when maxUnavailable is non-zero"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "200%"}}},
     "spec.updateStrategy.rollingUpdate.maxSurge", 'Invalid value: "200%": must not be greater than 100%'),
    ({"updateStrategy": {"type": "Sometimes"}}, "spec.updateStrategy",
     'Unsupported value: {"type":"Sometimes"}: supported values: "RollingUpdate", "OnDelete"'),
    ({"template": pod_template({"app": "x"})}, "spec.template.metadata.labels",
     'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`'),
    ({"template": pod_template(restartPolicy="OnFailure")}, "spec.template.spec.restartPolicy",
     'Unsupported value: "OnFailure": supported values: "Always"'),
    ({"template": pod_template(activeDeadlineSeconds=5)}, "spec.template.spec.activeDeadlineSeconds",
     "Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"),
    ({"selector": {}}, "spec.selector",
     "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset"),
]


@pytest.mark.parametrize(("spec", "field", "message"), DAEMONSET_CASES)
def test_daemonset_rule(spec: dict[str, Any], field: str, message: str) -> None:
    causes = run("DaemonSet", daemonset(**spec))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


def test_daemonset_valid_and_selector_immutable() -> None:
    assert run("DaemonSet", daemonset()) == []
    missing = daemonset()
    del missing["spec"]["selector"]
    assert causes_of(run("DaemonSet", missing), "spec.template.metadata.labels") == [
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`']
    old = defaulted("DaemonSet", daemonset())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    new["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    assert causes_of(run("DaemonSet", new, old), "spec.selector")[0].endswith("field is immutable")


def test_statefulset_defaults() -> None:
    obj = statefulset(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1.5Gi"}}}}])
    spec = defaulted("StatefulSet", obj)["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1536Mi"
    assert claim["status"] == {"phase": "Pending"}
    on_delete = defaulted("StatefulSet", statefulset(updateStrategy={"type": "OnDelete"}))["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}


STATEFULSET_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"podManagementPolicy": "Random"}, "spec.podManagementPolicy",
     "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"),
    ({"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 1}}}, "spec.updateStrategy.rollingUpdate",
     "Invalid value: {\"partition\":1}: only allowed for updateStrategy 'RollingUpdate'"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}},
     "spec.updateStrategy.rollingUpdate.partition", "Invalid value: -1: must be greater than or equal to 0"),
    ({"updateStrategy": {"type": "Blue"}}, "spec.updateStrategy",
     "Invalid value: {\"type\":\"Blue\"}: must be 'RollingUpdate' or 'OnDelete'"),
    ({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep"}},
     "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", 'Unsupported value: "Keep": supported values: "Retain", '
     '"Delete"'),
    ({"replicas": -1}, "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
    ({"template": pod_template({"app": "x"})}, "spec.template.metadata.labels",
     'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`'),
    ({"template": pod_template(restartPolicy="Never")}, "spec.template.spec.restartPolicy",
     'Unsupported value: "Never": supported values: "Always"'),
    ({"template": pod_template(containers=[container(volumeMounts=[{"name": "nope", "mountPath": "/d"}])])},
     "spec.template.spec.containers[0].volumeMounts[0].name", 'Not found: "nope"'),
    ({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]},
     "spec.volumeClaimTemplates[0].spec.accessModes", "Required value"),
]


@pytest.mark.parametrize(("spec", "field", "message"), STATEFULSET_CASES)
def test_statefulset_rule(spec: dict[str, Any], field: str, message: str) -> None:
    causes = run("StatefulSet", statefulset(**spec))
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


def test_statefulset_claim_templates_are_mountable() -> None:
    obj = statefulset(
        template=pod_template(containers=[container(volumeMounts=[{"name": "data", "mountPath": "/var/lib/db"}])]),
        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}])
    assert run("StatefulSet", obj) == []


def test_statefulset_update_rules() -> None:
    old = defaulted("StatefulSet", statefulset())
    allowed = copy.deepcopy(old)
    allowed["spec"]["replicas"] = 3
    allowed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    allowed["spec"]["updateStrategy"] = {"type": "OnDelete"}
    allowed["spec"]["minReadySeconds"] = 5
    assert run("StatefulSet", allowed, old) == []
    for change in ({"serviceName": "other"}, {"podManagementPolicy": "Parallel"},
                   {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}):
        new = copy.deepcopy(old)
        new["spec"].update(change)
        assert causes_of(run("StatefulSet", new, old), "spec") == [f"Forbidden: {STATEFULSET_UPDATE_FORBIDDEN}"]
    assert STATEFULSET_UPDATE_FORBIDDEN == (
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
