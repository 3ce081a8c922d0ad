"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) through apply_patch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gitkube import errors
from gitkube.apiserver.patch import JSON_PATCH, MERGE_PATCH, apply_patch

# RFC 7386 appendix A, the cases whose target is an object.
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("live", "patch", "want"), RFC7386)
def test_merge_patch_rfc7386(live: dict[str, Any], patch: Any, want: dict[str, Any]) -> None:
    before = copy.deepcopy(live)
    assert apply_patch(MERGE_PATCH, live, json.dumps(patch).encode(), "v1", "ConfigMap") == want
    assert live == before


def test_merge_patch_replaces_lists_even_merge_key_lists() -> None:
    live = {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}
    body = b'{"spec":{"template":{"spec":{"containers":[{"name":"c"}]}}}}'
    got = apply_patch(MERGE_PATCH, live, body, "apps/v1", "Deployment")
    assert got["spec"]["template"]["spec"]["containers"] == [{"name": "c"}]


def test_merge_patch_scale_like_kubectl() -> None:
    scale = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "spec": {"replicas": 1},
        "status": {"replicas": 1},
    }
    got = apply_patch(MERGE_PATCH, scale, b'{"spec":{"replicas":3}}', "autoscaling/v1", "Scale")
    assert got["spec"] == {"replicas": 3} and got["status"] == {"replicas": 1}


def test_merge_patch_works_for_kinds_without_schema() -> None:
    got = apply_patch(MERGE_PATCH, {"spec": {"a": 1}}, b'{"spec":{"b":2}}', "gitkube.io/v1", "GitRepository")
    assert got == {"spec": {"a": 1, "b": 2}}


@pytest.mark.parametrize("body", [b"not json", b"null", b'"text"', b"5"])
def test_merge_patch_bad_bodies(body: bytes) -> None:
    with pytest.raises(errors.BadRequest) as info:
        apply_patch(MERGE_PATCH, {"a": 1}, body, "v1", "ConfigMap")
    assert info.value.message == "Invalid JSON Patch"


def test_merge_patch_with_a_list_body_is_invalid() -> None:
    with pytest.raises(errors.Invalid) as info:
        apply_patch(MERGE_PATCH, {"a": 1}, b'["x"]', "v1", "ConfigMap")
    assert info.value.code == 422
    assert "json: cannot unmarshal array into Go value of type map[string]interface {}" in info.value.message


LIVE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}},
}

JSON_PATCH_CASES = [
    ([{"op": "replace", "path": "/spec/replicas", "value": 4}], ("spec", "replicas"), 4),
    (
        [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
        ("metadata", "labels"),
        {"app": "web", "tier": "fe"},
    ),
    ([{"op": "remove", "path": "/metadata/labels/app"}], ("metadata", "labels"), {}),
    (
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:2"}],
        ("spec", "template"),
        {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}},
    ),
    (
        [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b"}}],
        ("spec", "template"),
        {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "b"}]}},
    ),
    (
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/minReadySeconds"},
        ],
        ("spec", "minReadySeconds"),
        1,
    ),
    (
        [{"op": "move", "from": "/metadata/labels", "path": "/metadata/annotations"}],
        ("metadata", "annotations"),
        {"app": "web"},
    ),
]


@pytest.mark.parametrize(("ops", "where", "want"), JSON_PATCH_CASES)
def test_json_patch_operations(ops: list[dict[str, Any]], where: tuple[str, str], want: Any) -> None:
    live = copy.deepcopy(LIVE)
    got = apply_patch(JSON_PATCH, live, json.dumps(ops).encode(), "apps/v1", "Deployment")
    assert got[where[0]][where[1]] == want
    assert live == LIVE, "the live object must not be modified"


def test_json_patch_can_write_managed_fields_like_kubectl_migration() -> None:
    live = copy.deepcopy(LIVE)
    live["metadata"]["managedFields"] = [{"manager": "old", "operation": "Update"}]
    ops = [
        {
            "op": "replace",
            "path": "/metadata/managedFields",
            "value": [{"manager": "kubectl", "operation": "Apply"}],
        },
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
    ]
    live["metadata"]["resourceVersion"] = "7"
    got = apply_patch(JSON_PATCH, live, json.dumps(ops).encode(), "apps/v1", "Deployment")
    assert got["metadata"]["managedFields"] == [{"manager": "kubectl", "operation": "Apply"}]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/metadata/labels/missing"}],
        [{"op": "replace", "path": "/spec/paused", "value": True}],
        [{"op": "test", "path": "/spec/replicas", "value": 2}],
        [{"op": "add", "path": "/spec/nothere/deeper", "value": 1}],
        [{"op": "frobnicate", "path": "/spec"}],
        [{"path": "/spec"}],
        [{"op": "add", "path": "/spec/template/spec/containers/7", "value": {}}],
    ],
)
def test_json_patch_failures_are_invalid_like_kubernetes(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(errors.Invalid) as info:
        apply_patch(JSON_PATCH, LIVE, json.dumps(ops).encode(), "apps/v1", "Deployment")
    status = info.value.to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"


def test_json_patch_that_replaces_the_root_with_a_list_is_invalid() -> None:
    with pytest.raises(errors.Invalid) as info:
        apply_patch(JSON_PATCH, LIVE, b'[{"op":"replace","path":"","value":[1]}]', "apps/v1", "Deployment")
    assert info.value.message == (
        ' "" is invalid: patch: Invalid value: "[1]": json: cannot unmarshal array into Go value of type '
        "map[string]interface {}"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        (b'{"op":"add"}', "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        (b'["add"]', "json: cannot unmarshal array into Go value of type jsonpatch.Patch"),
    ],
)
def test_json_patch_bad_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        apply_patch(JSON_PATCH, LIVE, body, "apps/v1", "Deployment")
    assert info.value.message == message


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Deployment"}] * 10001
    with pytest.raises(errors.RequestTooLarge) as info:
        apply_patch(JSON_PATCH, LIVE, json.dumps(ops).encode(), "apps/v1", "Deployment")
    assert info.value.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    )
    ops = ops[:10000]
    assert apply_patch(JSON_PATCH, LIVE, json.dumps(ops).encode(), "apps/v1", "Deployment") == LIVE
