"""The Kubernetes schemas: lookup, patch metadata, field checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.api import scheme
from gitkube.api.schema import Schema, check_fields, drop_unknown, schema_for


def test_every_served_kind_has_a_schema() -> None:
    for info in scheme.ALL_RESOURCES:
        node = schema_for(info.api_version, info.kind)
        assert node is not None, info.kind
        assert node.field("metadata") is not None and node.field("kind") is not None
        for sub in info.subresources:
            if sub.name in ("status", "scale"):
                assert (
                    schema_for(f"{sub.group}/{sub.version}" if sub.group else sub.version, sub.kind)
                    is not None
                )


@pytest.mark.parametrize(
    ("api_version", "kind", "name"),
    [
        ("autoscaling/v1", "Scale", "io.k8s.api.autoscaling.v1.Scale"),
        ("v1", "Status", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
        ("policy/v1", "Eviction", "io.k8s.api.policy.v1.Eviction"),
        ("v1", "Binding", "io.k8s.api.core.v1.Binding"),
    ],
)
def test_other_kinds(api_version: str, kind: str, name: str) -> None:
    node = schema_for(api_version, kind)
    assert node is not None and node.name == name


def test_unknown_kinds_have_no_schema() -> None:
    assert schema_for("gitkube.io/v1", "GitRepository") is None
    assert schema_for("apps/v2", "Deployment") is None


def _pod_spec() -> Schema:
    node = schema_for("apps/v1", "Deployment")
    assert node is not None
    spec = node.field("spec")
    assert spec is not None
    template = spec.field("template")
    assert template is not None
    pod = template.field("spec")
    assert pod is not None
    return pod


def test_patch_metadata_of_well_known_lists() -> None:
    pod = _pod_spec()
    containers = pod.field("containers")
    assert containers is not None and containers.is_array
    assert containers.patch_merge_key == "name" and containers.patch_strategy == {"merge"}
    assert containers.list_type == "map" and containers.list_map_keys == ("name",)
    item = containers.items()
    assert item is not None and item.name == "io.k8s.api.core.v1.Container"
    ports = item.field("ports")
    assert ports is not None and ports.patch_merge_key == "containerPort"
    assert ports.list_map_keys == ("containerPort", "protocol")
    mounts = item.field("volumeMounts")
    assert mounts is not None and mounts.patch_merge_key == "mountPath"
    volumes = pod.field("volumes")
    assert volumes is not None and volumes.patch_strategy == {"merge", "retainKeys"}
    args = item.field("args")
    assert args is not None and args.list_type == "atomic" and args.patch_strategy == frozenset()
    tolerations = pod.field("tolerations")
    assert tolerations is not None and tolerations.list_type == "atomic"


def test_maps_structs_and_extensions_beside_refs() -> None:
    deployment = schema_for("apps/v1", "Deployment")
    assert deployment is not None
    spec = deployment.field("spec")
    assert spec is not None and spec.is_struct and not spec.is_map
    strategy = spec.field("strategy")
    assert strategy is not None and strategy.patch_strategy == {"retainKeys"}, "extension next to a $ref"
    selector = spec.field("selector")
    assert selector is not None and selector.map_type == "atomic"
    meta = deployment.field("metadata")
    assert meta is not None
    labels = meta.field("labels")
    assert labels is not None and labels.is_map and labels.additional() is not None
    finalizers = meta.field("finalizers")
    assert finalizers is not None and finalizers.list_type == "set" and finalizers.patch_strategy == {"merge"}
    owners = meta.field("ownerReferences")
    assert owners is not None and owners.patch_merge_key == "uid"
    node_selector = _pod_spec().field("nodeSelector")
    assert node_selector is not None and node_selector.map_type == "atomic"
    service = schema_for("v1", "Service")
    assert service is not None
    service_spec = service.field("spec")
    assert service_spec is not None
    service_ports = service_spec.field("ports")
    assert service_ports is not None and service_ports.patch_merge_key == "port"
    status = spec.field("replicas")
    assert status is not None and status.go_type == "int32"
    assert schema_for("apps/v1", "Deployment") is deployment, "nodes are cached"


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx",
                            "ports": [{"containerPort": 80}],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": 1073741824},
                                "requests": {"cpu": 0.5},
                            },
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        }
                    ]
                },
            },
        },
    }


def test_a_valid_object_has_no_findings() -> None:
    report = check_fields("apps/v1", "Deployment", _deployment())
    assert report.ok and report.unknown == [] and report.type_errors == []


def test_int_or_string_fields_accept_both_and_null() -> None:
    obj = _deployment()
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": None}
    assert check_fields("apps/v1", "Deployment", obj).ok
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}]},
    }
    assert check_fields("v1", "Service", service).ok
    service["spec"]["ports"][0]["targetPort"] = 8080
    assert check_fields("v1", "Service", service).ok


def test_unknown_fields_everywhere_including_metadata() -> None:
    obj = _deployment()
    obj["spec"]["replicass"] = 3
    obj["metadata"]["labelz"] = {}
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPortt"] = 1
    report = check_fields("apps/v1", "Deployment", obj)
    assert report.unknown == [
        "metadata.labelz",
        "spec.replicass",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.containers[0].ports[0].hostPortt",
    ]
    assert report.strict_message() == (
        'strict decoding error: unknown field "metadata.labelz", unknown field "spec.replicass", '
        'unknown field "spec.template.spec.containers[0].imagee", '
        'unknown field "spec.template.spec.containers[0].ports[0].hostPortt"'
    )
    assert report.warnings()[1] == 'unknown field "spec.replicass"'


def test_wrong_types_are_reported_like_go_json_errors() -> None:
    obj = _deployment()
    obj["spec"]["replicas"] = "3"
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    obj["metadata"]["labels"]["app"] = 5
    obj["spec"]["paused"] = "yes"
    report = check_fields("apps/v1", "Deployment", obj)
    by_field = {c.field: c.message for c in report.type_errors}
    assert by_field == {
        "metadata.labels.app": "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        "spec.replicas": "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        "spec.paused": "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
        "spec.template.spec.containers[0].ports[0].containerPort": (
            "json: cannot unmarshal string into Go struct field ContainerPort."
            "spec.template.spec.containers.ports.containerPort of type int32"
        ),
    }
    assert {c.reason for c in report.type_errors} == {"FieldValueTypeInvalid"}


def test_wrong_type_for_a_struct_and_an_int_or_string() -> None:
    obj = _deployment()
    obj["spec"]["template"] = "nope"
    obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = True
    fields = {c.field: c.message for c in check_fields("apps/v1", "Deployment", obj).type_errors}
    assert fields["spec.template"].endswith("DeploymentSpec.spec.template of type v1.PodTemplateSpec")
    assert fields["spec.strategy.rollingUpdate.maxSurge"].endswith("of type intstr.IntOrString")


def test_unknown_kind_reports_nothing() -> None:
    assert check_fields("gitkube.io/v1", "GitRepository", {"spec": {"anything": 1}}).ok


def test_drop_unknown_removes_only_undeclared_fields() -> None:
    obj = _deployment()
    obj["spec"]["replicass"] = 3
    obj["metadata"]["labelz"] = {"x": "y"}
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    before = copy.deepcopy(obj)
    cleaned = drop_unknown("apps/v1", "Deployment", obj)
    assert cleaned == _deployment()
    assert obj == before
    assert drop_unknown("gitkube.io/v1", "GitRepository", {"x": 1}) == {"x": 1}
