"""apply_patch dispatch: media types, PatchOptions checks, apply bodies."""

from __future__ import annotations

import pytest

from gitkube import errors
from gitkube.api import scheme
from gitkube.apiserver.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    media_type,
    parse_apply_body,
    supported_patch_types,
    validate_patch_options,
)

BUILTIN_ACCEPTED = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, "
    "application/strategic-merge-patch+json, application/apply-patch+yaml"
)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/yaml", ""])
def test_unknown_media_types_are_415(content_type: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as info:
        apply_patch(content_type, {}, b"{}", "apps/v1", "Deployment")
    assert info.value.to_status()["code"] == 415
    assert info.value.message == BUILTIN_ACCEPTED


def test_every_served_kubernetes_kind_accepts_strategic_merge() -> None:
    for info in scheme.ALL_RESOURCES:
        assert supported_patch_types(info.api_version, info.kind) == (
            JSON_PATCH,
            MERGE_PATCH,
            STRATEGIC_MERGE_PATCH,
            APPLY_PATCH,
        ), info.kind


def test_media_type_strips_parameters() -> None:
    assert media_type("application/merge-patch+json; charset=utf-8") == MERGE_PATCH
    assert media_type(" application/json-patch+json ") == JSON_PATCH


def test_apply_through_the_dispatcher_creates_and_updates() -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"},"data":{"a":"1"}}'
    created = apply_patch(
        APPLY_PATCH, {}, body, "v1", "ConfigMap", manager="kubectl", now="2024-01-01T00:00:00Z"
    )
    assert created["data"] == {"a": "1"}
    assert created["metadata"]["managedFields"][0]["manager"] == "kubectl"
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  b: '2'\n"
    updated = apply_patch(
        APPLY_PATCH, created, yaml_body, "v1", "ConfigMap", manager="kubectl", now="2024-01-01T00:00:01Z"
    )
    assert updated["data"] == {"b": "2"}, "a was applied before and is no longer"


def test_apply_without_field_manager_is_refused_like_kubernetes() -> None:
    with pytest.raises(errors.Invalid) as info:
        apply_patch(APPLY_PATCH, {}, b"{}", "v1", "ConfigMap")
    status = info.value.to_status()
    assert (
        status["message"]
        == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert status["details"]["kind"] == "PatchOptions" and status["details"]["group"] == "meta.k8s.io"
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: is required for apply patch",
            "field": "fieldManager",
        }
    ]


def test_patch_options_checks() -> None:
    validate_patch_options(MERGE_PATCH, "kubectl-patch", None)
    validate_patch_options(APPLY_PATCH, "kubectl", True)
    with pytest.raises(errors.Invalid) as info:
        validate_patch_options(STRATEGIC_MERGE_PATCH, "kubectl", True)
    assert (
        info.value.message
        == 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
    )
    with pytest.raises(errors.Invalid) as info:
        validate_patch_options(APPLY_PATCH, "x" * 129, False)
    assert "fieldManager: Too long: may not be more than 128 bytes" in info.value.message


def test_parse_apply_body_yaml_and_json() -> None:
    assert parse_apply_body(b'{"a": {"b": [1, 2]}}') == {"a": {"b": [1, 2]}}
    parsed = parse_apply_body(b"metadata:\n  creationTimestamp: 2024-01-01T00:00:00Z\n  labels: {1: on}\n")
    assert parsed == {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"1": "on"}}}
    assert parse_apply_body(b"") == {}


@pytest.mark.parametrize(
    ("body", "start"),
    [
        (b"a: [1, 2", "error decoding YAML: "),
        (b"- 1\n- 2\n", "error decoding YAML: json: cannot unmarshal array"),
    ],
)
def test_parse_apply_body_errors(body: bytes, start: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        parse_apply_body(body)
    assert info.value.message.startswith(start)
