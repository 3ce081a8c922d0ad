"""Normalised comparison: live objects as the API server returns them show no difference; real
changes show exactly themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitkube.api.objectkey import ObjectKey
from gitkube.plan import FieldChange, object_diff, stamp
from gitkube.plan.diff import compare_object, in_sync
from tests.unit.plan import objects
from tests.unit.plan.kit import FakeServer, settle

SRC = "apps/x.yaml:1:1"


def applied(obj: dict[str, Any], server: FakeServer | None = None) -> tuple[dict[str, Any], dict[str, Any], FakeServer]:
    server = server or FakeServer()
    desired = stamp(obj, SRC)
    server.apply(desired)
    return desired, settle(server, ObjectKey.of(server.apply(desired))), server


@pytest.mark.parametrize("kind", sorted(objects.ALL))
def test_applied_object_is_in_sync(kind: str) -> None:
    desired, live, _ = applied(objects.ALL[kind]())
    assert live["metadata"]["managedFields"], "the server recorded gitkube's ownership"
    assert in_sync(desired, live), "fast path"
    assert compare_object(desired, live, fast=False).fields == [], "slow path"
    assert object_diff(desired, live) == []


def test_server_defaults_and_canonical_values_are_really_there() -> None:
    desired, live, _ = applied(objects.deployment())
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"][0]["protocol"] == "TCP"
    assert live["spec"]["strategy"]["type"] == "RollingUpdate"
    assert live["status"]["replicas"] == 2
    _, svc, _ = applied(objects.service())
    assert svc["spec"]["clusterIP"].startswith("10.96.") and svc["spec"]["sessionAffinity"] == "None"
    _, sec, _ = applied(objects.secret())
    assert "stringData" not in sec and sec["data"]["password"] == "aHVudGVyMg==" and sec["type"] == "Opaque"
    _, ns, _ = applied(objects.namespace())
    assert ns["status"]["phase"] == "Active"
    _, pod, _ = applied(objects.pod())
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert pod["spec"]["nodeName"] == "node-1"


HAND_WRITTEN_LIVE_SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {
        "name": "web", "namespace": "shop", "uid": "0b6c", "resourceVersion": "77",
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"app.kubernetes.io/managed-by": "gitkube"},
        "annotations": {"gitkube.io/source": "apps/x.yaml"},
        "managedFields": [{
            "manager": "gitkube", "operation": "Apply", "apiVersion": "v1", "time": "2024-05-01T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {"f:gitkube.io/source": {}},
                                        "f:labels": {"f:app.kubernetes.io/managed-by": {}}},
                         "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {},
                                                                                   "f:targetPort": {}}},
                                    "f:selector": {}}},
        }],
    },
    "spec": {
        "clusterIP": "10.96.0.40", "clusterIPs": ["10.96.0.40"], "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": "web"}, "sessionAffinity": "None", "type": "ClusterIP",
    },
    "status": {"loadBalancer": {}},
}


def test_hand_written_live_service_is_in_sync() -> None:
    desired = stamp(objects.service(), "apps/x.yaml:9:1")
    assert object_diff(desired, HAND_WRITTEN_LIVE_SERVICE) == []
    assert compare_object(desired, HAND_WRITTEN_LIVE_SERVICE, fast=False).fields == []


def _only(changes: list[FieldChange]) -> FieldChange:
    assert len(changes) == 1, changes
    return changes[0]


def test_image_change_is_exactly_that() -> None:
    _, live, _ = applied(objects.deployment())
    change = _only(object_diff(stamp(objects.deployment(image="nginx:1.26"), SRC), live))
    assert change == FieldChange("spec.template.spec.containers[name=web].image", "change", "nginx:1.25", "nginx:1.26")


def test_replicas_change() -> None:
    _, live, _ = applied(objects.deployment())
    assert _only(object_diff(stamp(objects.deployment(replicas=5), SRC), live)) == \
        FieldChange("spec.replicas", "change", 2, 5)


def test_removed_env_var_is_a_removal() -> None:
    _, live, _ = applied(objects.deployment())
    change = _only(object_diff(stamp(objects.deployment(env={"MODE": "prod"}), SRC), live))
    assert change.path == "spec.template.spec.containers[name=web].env[name=LOG]"
    assert change.op == "remove" and change.old == {"name": "LOG", "value": "info"}


def test_removed_field_gitkube_owned_shows_as_removal() -> None:
    _, live, _ = applied(objects.deployment())
    desired = objects.deployment()
    del desired["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    del desired["metadata"]["labels"]["app"]
    changes = object_diff(stamp(desired, SRC), live)
    assert [(c.path, c.op) for c in changes] == [
        ('metadata.labels.app', "remove"),
        ("spec.template.spec.containers[name=web].resources.limits", "remove"),
    ]


def test_quantities_compare_canonically() -> None:
    _, live, _ = applied(objects.deployment())
    desired = objects.deployment()
    desired["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1000m"}}
    assert object_diff(stamp(desired, SRC), live) == []


def test_empty_values_are_absent() -> None:
    _, live, _ = applied(objects.deployment())
    desired = objects.deployment()
    spec = desired["spec"]["template"]["spec"]
    spec["volumes"] = []
    spec["nodeSelector"] = {}
    spec["containers"][0]["lifecycle"] = None
    desired["metadata"]["creationTimestamp"] = None
    assert object_diff(stamp(desired, SRC), live) == []


def test_drift_by_kubectl_scale_is_reported() -> None:
    desired, live, server = applied(objects.deployment())
    key = ObjectKey.of(desired)
    scaled = server.update(key, lambda o: o["spec"].__setitem__("replicas", 7), manager="kubectl")
    assert _only(object_diff(desired, scaled)) == FieldChange("spec.replicas", "change", 7, 2)
    # kubectl took ownership of replicas: the slow path agrees
    assert compare_object(desired, scaled, fast=False).fields == object_diff(desired, scaled)


def test_drift_by_kubectl_edit_of_an_atomic_list() -> None:
    desired, _, server = applied(objects.deployment())
    edited = server.update(ObjectKey.of(desired), lambda o: o["spec"]["template"]["spec"]["containers"][0]
                           .__setitem__("args", ["--port", "9090"]), manager="kubectl-edit")
    change = _only(object_diff(desired, edited))
    assert change.path == "spec.template.spec.containers[name=web].args[1]" and change.new == "8080"


def test_fields_added_by_others_are_not_a_difference() -> None:
    desired, _, server = applied(objects.deployment())

    def add(o: dict[str, Any]) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "EXTRA", "value": "1"})
        o["metadata"]["annotations"]["team"] = "blue"
    edited = server.update(ObjectKey.of(desired), add, manager="kubectl-edit")
    assert object_diff(desired, edited) == []  # server-side apply would keep them too


def test_field_owned_by_another_manager_too_is_not_removed() -> None:
    desired, _, server = applied(objects.configmap())
    key = ObjectKey.of(desired)
    # a second applier sets the same value: both own data.size now
    server.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "shop"},
                  "data": {"size": "3"}}, manager="helm")
    live = server.get(key)
    shrunk = objects.configmap()
    del shrunk["data"]["size"]
    assert object_diff(stamp(shrunk, SRC), live) == []  # apply would leave it: helm owns it too
    del shrunk["data"]["greeting"]
    assert object_diff(stamp(shrunk, SRC), live) == [FieldChange("data", "remove", {"greeting": "hello"})]
    # and the server agrees
    after = server.apply(stamp(shrunk, SRC))
    assert after["data"] == {"size": "3"}


def test_secret_values_are_never_shown() -> None:
    desired, live, _ = applied(objects.secret())
    changed = objects.secret()
    changed["stringData"] = {"password": "correct horse", "token": "t0ps3cret"}
    cmp = compare_object(stamp(changed, SRC), live)
    paths = {(c.path, c.op, c.old, c.new) for c in cmp.fields}
    assert paths == {("data.password", "change", "(sensitive)", "(sensitive)"),
                     ("data.token", "add", None, "(sensitive)")}
    from gitkube.plan.diff import unified
    text = unified(cmp.live_view, cmp.desired_view, secret=True, name="Secret shop/db")
    assert "-  password: (sensitive)" in text and "+  password: (sensitive, changed)" in text
    assert "+  token: (sensitive)" in text
    for secret_text in ("hunter2", "aHVudGVyMg", "correct horse", "t0ps3cret", "dDBwczNjcmV0", "YWRtaW4="):
        assert secret_text not in text
        assert secret_text not in json.dumps([c.__dict__ for c in cmp.fields])


def test_no_managed_fields_still_compares_on_desired_fields() -> None:
    desired, live, _ = applied(objects.deployment())
    del live["metadata"]["managedFields"]
    assert object_diff(desired, live) == []
    assert _only(object_diff(stamp(objects.deployment(replicas=1), SRC), live)).path == "spec.replicas"


MUTATIONS = [
    lambda o: o["spec"].__setitem__("replicas", 3),
    lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "x:2"),
    lambda o: o["spec"]["template"]["spec"]["containers"][0]["env"].pop(),
    lambda o: o["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__("containerPort", 81),
    lambda o: o["metadata"]["labels"].__setitem__("tier", "front"),
    lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].__setitem__("cpu", "2"),
    lambda o: o["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"}),
    lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"),
]


@pytest.mark.parametrize("index", range(len(MUTATIONS)))
def test_fast_and_slow_paths_agree(index: int) -> None:
    desired, live, _ = applied(objects.deployment())
    changed = objects.deployment()
    MUTATIONS[index](changed)
    stamped = stamp(changed, SRC)
    slow = compare_object(stamped, live, fast=False).fields
    assert slow, "every mutation is a real change"
    assert not in_sync(stamped, live)
    assert compare_object(stamped, live).fields == slow
