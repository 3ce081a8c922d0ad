"""Strategic merge patch: table-driven cases from tests/testdata/patch/strategic.yaml, plus dispatch."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitkube import errors
from gitkube.apiserver.patch import STRATEGIC_MERGE_PATCH, apply_patch
from gitkube.apiserver.patch.strategic import go_format

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[3] / "testdata" / "patch" / "strategic.yaml").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_strategic_merge_case(case: dict[str, Any]) -> None:
    live = case["live"]
    before = copy.deepcopy(live)
    body = json.dumps(case["patch"]).encode()
    api_version = case.get("apiVersion", "apps/v1")
    kind = case.get("kind", "Deployment")
    if "error" in case:
        with pytest.raises(errors.APIError) as info:
            apply_patch(STRATEGIC_MERGE_PATCH, live, body, api_version, kind)
        assert info.value.code == case["error"]["status"]
        assert case["error"]["message"] in info.value.message
    else:
        got = apply_patch(STRATEGIC_MERGE_PATCH, live, body, api_version, kind)
        assert got == case["want"]
    assert live == before, "the live object must not be modified"


def test_charset_parameter_is_ignored() -> None:
    got = apply_patch(
        "application/strategic-merge-patch+json; charset=utf-8",
        {"metadata": {"labels": {"a": "1"}}},
        b'{"metadata":{"labels":{"b":"2"}}}',
        "v1",
        "ConfigMap",
    )
    assert got == {"metadata": {"labels": {"a": "1", "b": "2"}}}


def test_kinds_without_schema_refuse_strategic_merge_like_custom_resources() -> None:
    with pytest.raises(errors.UnsupportedMediaType) as info:
        apply_patch(STRATEGIC_MERGE_PATCH, {}, b"{}", "gitkube.io/v1", "GitRepository")
    assert info.value.code == 415
    assert info.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b"{oops", "invalid character 'o' looking for beginning of object key string"),
        (b"nope", "invalid character 'n' looking for beginning of value"),
        (b'{"a":1} x', "invalid character 'x' after top-level value"),
        (b"[1,2]", "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ],
)
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        apply_patch(STRATEGIC_MERGE_PATCH, {}, body, "apps/v1", "Deployment")
    assert info.value.message == message


def test_go_format_matches_go_verbs() -> None:
    assert go_format({"b": [1, "x"], "a": {"c": None, "d": True}}) == "map[a:map[c:<nil> d:true] b:[1 x]]"
    assert go_format(2.0) == "2"
