"""The Table envelope: includeObject modes, list metadata, headers, Accept negotiation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import scheme
from gitkube.api.scheme import ResourceInfo
from gitkube.apiserver.table import TABLE_CONTENT_TYPE, to_table, wants_table

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _info(group: str, plural: str) -> ResourceInfo:
    info = scheme.by_plural(group, plural)
    assert info is not None
    return info


PODS = _info("", "pods")


def _pod(name: str, created: str = "2024-05-01T11:59:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "41",
            "creationTimestamp": created,
            "labels": {"app": "web"},
            "annotations": {"note": "x"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending"},
    }


def test_envelope_and_row_order() -> None:
    pods = [_pod("b"), _pod("a")]
    table = to_table(PODS, pods, now=NOW, list_meta={"resourceVersion": "1041", "continue": "tok"})
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "1041", "continue": "tok"}
    assert [r["cells"][0] for r in table["rows"]] == ["b", "a"]
    assert table["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": table["columnDefinitions"][0]["description"],
        "priority": 0,
    }
    assert table["columnDefinitions"][0]["description"].startswith("Name must be unique within a namespace.")
    json.dumps(table)  # plain JSON types only


def test_metadata_mode_is_default_and_carries_full_object_metadata() -> None:
    pod = _pod("web")
    for table in (to_table(PODS, [pod], now=NOW), to_table(PODS, [pod], now=NOW, include_object="")):
        obj = table["rows"][0]["object"]
        assert obj == {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": pod["metadata"],
        }
        assert "spec" not in obj and "status" not in obj


def test_object_mode_returns_the_whole_object() -> None:
    pod = _pod("web")
    table = to_table(PODS, [pod], now=NOW, include_object="Object")
    assert table["rows"][0]["object"] == pod


def test_object_mode_fills_missing_type_meta_without_mutating_input() -> None:
    pod = _pod("web")
    del pod["kind"], pod["apiVersion"]
    before = copy.deepcopy(pod)
    deployments = _info("apps", "deployments")
    obj = to_table(deployments, [pod], now=NOW, include_object="Object")["rows"][0]["object"]
    assert obj["kind"] == "Deployment" and obj["apiVersion"] == "apps/v1"
    assert obj["metadata"] == pod["metadata"]
    assert pod == before


def test_none_mode_sends_a_null_object() -> None:
    row = to_table(PODS, [_pod("web")], now=NOW, include_object="None")["rows"][0]
    assert row["object"] is None
    assert row["cells"][0] == "web"


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest) as caught:
        to_table(PODS, [_pod("web")], now=NOW, include_object="Everything")
    assert caught.value.code == 400
    assert caught.value.message == 'unrecognized includeObject value: "Everything"'
    assert caught.value.to_status()["reason"] == "BadRequest"


def test_empty_list_still_has_columns() -> None:
    table = to_table(PODS, [], now=NOW)
    assert table["rows"] == []
    assert len(table["columnDefinitions"]) == 9
    assert table["metadata"] == {}


def test_no_headers_drops_column_definitions_only() -> None:
    table = to_table(PODS, [_pod("web")], now=NOW, no_headers=True)
    assert table["columnDefinitions"] == []
    assert table["rows"][0]["cells"][:5] == ["web", "0/1", "Pending", "0", "60s"]


def test_list_meta_is_copied() -> None:
    meta = {"resourceVersion": "7"}
    table = to_table(PODS, [], now=NOW, list_meta=meta)
    table["metadata"]["resourceVersion"] = "8"
    assert meta == {"resourceVersion": "7"}


def test_naive_now_is_utc_and_default_now_is_the_clock() -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    assert to_table(PODS, [_pod("web")], now=naive)["rows"][0]["cells"][4] == "60s"
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert to_table(PODS, [_pod("web", an_hour_ago)])["rows"][0]["cells"][4] == "60m"


def test_unknown_kind_uses_name_and_age() -> None:
    widgets = ResourceInfo(
        group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True
    )
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "creationTimestamp": "2024-04-29T09:00:00Z"},
    }
    table = to_table(widgets, [obj], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert table["rows"][0]["cells"] == ["w1", "2d3h"]


def test_finished_pods_carry_the_completed_row_condition_and_others_none() -> None:
    done = _pod("done")
    done["status"] = {"phase": "Succeeded"}
    rows = to_table(PODS, [done, _pod("running")], now=NOW)["rows"]
    assert rows[0]["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert "conditions" not in rows[1]
    assert list(rows[0]) == ["cells", "conditions", "object"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # what kubectl 1.32 sends for get
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
            "application/json",
            True,
        ),
        (TABLE_CONTENT_TYPE, True),
        ("application/json; as=Table; v=v1; g=meta.k8s.io", True),
        ("application/json", False),
        ("*/*", False),
        ("application/vnd.kubernetes.protobuf, */*", False),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", False),
        ("application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json", False),
        ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", False),
        ("", False),
        (None, False),
    ],
)
def test_wants_table(accept: str | None, expected: bool) -> None:
    assert wants_table(accept) is expected
