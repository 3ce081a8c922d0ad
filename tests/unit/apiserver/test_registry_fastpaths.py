"""The registry's write-path shortcuts give exactly what the plain path gives: the memoised
managedFields of creates, the trimmed field tracking of /status and main-resource writes,
the changed-fields-only decoding of updates, and the JSON-tree ``clone``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.api import scheme
from gitkube.apiserver import registry as reg
from gitkube.apiserver.patch.apply_update import track_update

PODS = scheme.by_plural("", "pods")
assert PODS is not None


def pod(name: str, image: str = "x") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "d", "uid": f"uid-{name}", "generateName": "rs-",
                         "labels": {"app": "web"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "1d"]}],
                     "restartPolicy": "Always"},
            "status": {"phase": "Pending"}}


def test_clone_is_deep_and_equal() -> None:
    obj = {"a": [{"b": 1}, [2, 3]], "c": {"d": None}, "e": "s"}
    out = reg.clone(obj)
    assert out == obj
    out["a"][0]["b"] = 9
    out["c"]["d"] = 1
    assert obj == {"a": [{"b": 1}, [2, 3]], "c": {"d": None}, "e": "s"}


@pytest.mark.parametrize("image", ["x", "y"])
def test_memoised_create_fields_equal_the_plain_ones(image: str) -> None:
    for i in range(3):  # the second and third hit the memo
        plain, fast = pod(f"p{i}", image), pod(f"p{i}", image)
        track_update(None, plain, manager="rs", api_version="v1", kind="Pod", now=f"2026-01-01T00:00:0{i}Z")
        reg._track_create(PODS, fast, "rs", f"2026-01-01T00:00:0{i}Z")
        assert fast == plain
    other = pod("q", image)
    other["spec"]["containers"].append({"name": "d", "image": "z"})
    plain = copy.deepcopy(other)
    track_update(None, plain, manager="rs", api_version="v1", kind="Pod", now="t")
    reg._track_create(PODS, other, "rs", "t")
    assert other == plain  # a different shape is not served from the memo


@pytest.mark.parametrize("subresource", ["status", ""])
def test_trimmed_update_tracking_equals_the_full_one(subresource: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg.meta, "now", lambda: "2026-01-01T00:00:05Z")
    live = pod("p")
    track_update(None, live, manager="rs", api_version="v1", kind="Pod", now="2026-01-01T00:00:00Z")
    new = copy.deepcopy(live)
    if subresource:
        new["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    else:
        new["metadata"]["labels"]["tier"] = "x"
    plain, fast = copy.deepcopy(new), copy.deepcopy(new)
    track_update(live, plain, manager="kubelet", api_version="v1", kind="Pod", now="2026-01-01T00:00:05Z",
                 subresource=subresource)
    reg._track_write(PODS, live, fast, reg.WriteOptions(field_manager="kubelet", subresource=subresource))
    assert fast == plain
    assert [e["manager"] for e in fast["metadata"]["managedFields"]] == ["rs", "kubelet"]


def test_decoding_changes_only_checks_and_cleans_what_changed() -> None:
    live = pod("p")
    desired = copy.deepcopy(live)
    desired["status"]["bogus"] = 1
    desired["extra"] = True
    warnings = reg._decode_changes(PODS, desired, live, "Warn")
    assert sorted(warnings) == ['unknown field "extra"', 'unknown field "status.bogus"']
    assert "extra" not in desired and desired["status"] == {"phase": "Pending"}
    assert desired["spec"] == live["spec"]
