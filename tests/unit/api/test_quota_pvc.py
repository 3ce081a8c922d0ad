"""gitkube.api.quota.pvc_limit_range_violations: LimitRanger's PersistentVolumeClaim items
(min/max ``storage`` against the claim's requests), with Kubernetes' messages."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api.quota import limit_range_violations, pvc_limit_range_violations


def _pvc(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": resources}}


def _range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "storage"}, "spec": {"limits": list(items)}}


_STORAGE = _range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})


@pytest.mark.parametrize(("requests", "expected"), [
    ({"storage": "1Gi"}, []),
    ({"storage": "10Gi"}, []),
    ({"storage": "5000Mi"}, []),
    ({"storage": "500Mi"}, ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]),
    ({"storage": "20Gi"}, ["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]),
    ({"storage": "11G"}, ["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 11G"]),
    ({}, ["minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified",
          "maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified"]),
])
def test_min_and_max_storage(requests: dict[str, str], expected: list[str]) -> None:
    assert pvc_limit_range_violations(_pvc(requests), _STORAGE) == expected


def test_limits_are_not_user_input_for_a_claim() -> None:
    """LimitRanger checks a claim's requests only: a large limit does not break the max."""
    assert pvc_limit_range_violations(_pvc({"storage": "2Gi"}, {"storage": "50Gi"}), _STORAGE) == []
    assert pvc_limit_range_violations(_pvc(None, {"storage": "2Gi"}), _range(
        {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}})) == [
        "maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified"]


def test_only_claim_items_apply_and_pods_ignore_them() -> None:
    mixed = _range({"type": "Container", "max": {"cpu": "1"}},
                   {"type": "PersistentVolumeClaim", "min": {"storage": "2Gi"}})
    assert pvc_limit_range_violations(_pvc({"storage": "1Gi"}), mixed) == [
        "minimum storage usage per PersistentVolumeClaim is 2Gi, but request is 1Gi"]
    pod = {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]}}
    assert limit_range_violations(pod, _range({"type": "PersistentVolumeClaim", "min": {"storage": "2Gi"}})) == []
    assert pvc_limit_range_violations(_pvc({"storage": "1Gi"}), _range({"type": "Container", "max": {"cpu": "1"}})) == []


def test_several_items_report_in_order() -> None:
    two = _range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
                 {"type": "PersistentVolumeClaim", "max": {"storage": "100Mi"}})
    assert pvc_limit_range_violations(_pvc({"storage": "500Mi"}), two) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
        "maximum storage usage per PersistentVolumeClaim is 100Mi, but request is 500Mi"]
