"""track_update's stored-entries fast path gives what the full decode/encode path gives."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gitkube.apiserver.patch import apply_raw, apply_update
from gitkube.apiserver.patch.apply_update import track_update

Step = tuple[str, str, Callable[[dict[str, Any]], None]]  # manager, subresource, edit


def _pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web", "tier": "a"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                              "uid": "u1", "controller": True}]},
            "spec": {"containers": [{"name": "c", "image": "img:1", "ports": [{"containerPort": 80}]}],
                     "nodeName": "n1"},
            "status": {"phase": "Pending"}}


def _status(phase: str, ready: str) -> Callable[[dict[str, Any]], None]:
    def edit(obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": phase, "podIP": "127.1.0.5",
                         "conditions": [{"type": "Ready", "status": ready}, {"type": "Initialized", "status": "True"}],
                         "containerStatuses": [{"name": "c", "ready": ready == "True", "restartCount": 0}]}
    return edit


def _label(key: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def edit(obj: dict[str, Any]) -> None:
        labels = obj["metadata"].setdefault("labels", {})
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    return edit


def _condition(ctype: str, status: str) -> Callable[[dict[str, Any]], None]:
    def edit(obj: dict[str, Any]) -> None:
        conds = [c for c in obj["status"].get("conditions") or [] if c["type"] != ctype]
        obj["status"]["conditions"] = [*conds, {"type": ctype, "status": status}]
    return edit


def _drop_ip(obj: dict[str, Any]) -> None:
    obj["status"].pop("podIP", None)


def _noop(obj: dict[str, Any]) -> None:
    pass


STEPS: list[Step] = [
    ("kubelet", "status", _status("Pending", "False")),
    ("kubelet", "status", _status("Running", "True")),
    ("kubelet", "status", _status("Running", "True")),  # nothing changes
    ("kubectl-label", "", _label("extra", "1")),
    ("other", "", _label("extra", "2")),  # takes the label from kubectl-label
    ("scheduler", "status", _condition("PodScheduled", "True")),
    ("scheduler", "status", _condition("Ready", "False")),  # takes a condition from the kubelet
    ("kubelet", "status", _drop_ip),  # removes a field the kubelet owns
    ("kubectl-label", "", _label("tier", None)),  # removes a field the creator owns
    ("kubelet", "status", _status("Running", "True")),
    ("kubectl-label", "", _noop),
]


def _run(fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(apply_update, "usable", lambda _entries: False)
        obj = _pod()
        track_update(None, obj, manager="kube-controller-manager", api_version="v1", kind="Pod",
                     now="2026-01-01T00:00:00Z")
        history = []
        for i, (manager, sub, edit) in enumerate(STEPS):
            new = copy.deepcopy(obj)
            edit(new)
            view_old, view_new = obj, new
            if sub == "status":
                view_old = {k: v for k, v in obj.items() if k != "spec"}
                view_new = {k: v for k, v in new.items() if k != "spec"}
            track_update(view_old, view_new, manager=manager, api_version="v1", kind="Pod",
                         now=f"2026-01-01T00:{i + 1:02d}:00Z", subresource=sub)
            new["metadata"] = view_new["metadata"]
            history.append(copy.deepcopy(new["metadata"].get("managedFields")))
            obj = new
        return history


def test_fast_path_matches_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = _run(False, monkeypatch)
    fast = _run(True, monkeypatch)
    for step, (a, b) in enumerate(zip(slow, fast, strict=True)):
        assert a == b, f"step {step}: {STEPS[step][0]}"
    assert {e["manager"] for e in fast[5]} >= {"other", "scheduler", "kubelet"}
    # the kubelet's last status took back Ready and removed PodScheduled; kubectl-label lost
    # its label to "other" and removed tier: neither owns anything any more
    assert {e["manager"] for e in fast[-1]} == {"kube-controller-manager", "kubelet", "other"}


def test_entries_reached_by_the_change_only_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = apply_raw.FieldSet.from_fields_v1

    def counting(data: Any) -> Any:
        calls.append(data)
        return real(data)

    obj = _pod()
    track_update(None, obj, manager="kube-controller-manager", api_version="v1", kind="Pod", now="t0")
    new = copy.deepcopy(obj)
    _status("Running", "True")(new)
    track_update(obj, new, manager="kubelet", api_version="v1", kind="Pod", now="t1", subresource="status")
    again = copy.deepcopy(new)
    again["status"]["conditions"][0]["status"] = "False"
    again["status"]["containerStatuses"][0]["ready"] = False
    monkeypatch.setattr(apply_raw.FieldSet, "from_fields_v1", staticmethod(counting))
    track_update(new, again, manager="kubelet", api_version="v1", kind="Pod", now="t2", subresource="status")
    assert calls == []  # neither the creator's entry nor the kubelet's own needed decoding
    entries = {e["manager"]: e for e in again["metadata"]["managedFields"]}
    assert entries["kubelet"]["time"] == "t2" and entries["kube-controller-manager"]["time"] == "t0"


def test_non_canonical_keys_are_matched() -> None:
    stored = [{"manager": "a", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
               "fieldsType": "FieldsV1",
               "fieldsV1": {"f:status": {"f:conditions": {'k:{ "type" : "Ready" }': {".": {}, "f:status": {}}}}}}]
    old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "managedFields": stored},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    new = copy.deepcopy(old)
    new["status"]["conditions"][0]["status"] = "False"
    track_update(old, new, manager="b", api_version="v1", kind="Pod", now="2026-01-01T00:01:00Z",
                 subresource="status")
    by_manager = {e["manager"]: e["fieldsV1"] for e in new["metadata"]["managedFields"]}
    assert by_manager["a"] == {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {}}}}
    assert by_manager["b"] == {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {"f:status": {}}}}}
