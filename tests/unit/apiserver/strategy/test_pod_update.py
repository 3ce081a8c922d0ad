"""Pod update rules (ValidatePodUpdate): what may change in a running Pod's spec."""

from __future__ import annotations

import copy
from typing import Any

from gitkube.apiserver.strategy.pod import UPDATABLE_POD_SPEC_FIELDS

from . import causes_of, container, defaulted, pod, run

FORBIDDEN_PREFIX = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
    "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
)


def stored(**spec: Any) -> dict[str, Any]:
    return defaulted("Pod", pod(**spec))


def changed(old: dict[str, Any], **spec: Any) -> dict[str, Any]:
    new = copy.deepcopy(old)
    new["spec"].update(spec)
    return new


def test_message_lists_the_updatable_fields() -> None:
    assert ",".join(UPDATABLE_POD_SPEC_FIELDS) in FORBIDDEN_PREFIX


def test_image_change_is_allowed() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert run("Pod", new, old) == []


def test_metadata_and_status_changes_are_allowed() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"extra": "yes"}
    new["status"] = {"phase": "Running"}
    assert run("Pod", new, old) == []


def test_other_spec_changes_are_forbidden_with_a_diff() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 81}]
    found = causes_of(run("Pod", new, old), "spec")
    assert len(found) == 1
    assert found[0].startswith(FORBIDDEN_PREFIX)
    assert "containers" in found[0][len(FORBIDDEN_PREFIX):]


def test_restart_policy_and_node_name_changes_are_forbidden() -> None:
    old = stored()
    for spec in ({"restartPolicy": "Never"}, {"nodeName": "node-b"}):
        found = causes_of(run("Pod", changed(old, **spec), old), "spec")
        assert found and found[0].startswith(FORBIDDEN_PREFIX)


def test_containers_may_not_be_added_or_removed() -> None:
    old = stored()
    new = changed(old, containers=old["spec"]["containers"] + [container(name="b")])
    assert causes_of(run("Pod", new, old), "spec.containers") == ["Forbidden: pod updates may not add or remove containers"]


def test_image_may_not_be_emptied() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = ""
    assert "Required value" in causes_of(run("Pod", new, old), "spec.containers[0].image")


def test_active_deadline_rules() -> None:
    old = stored()
    assert run("Pod", changed(old, activeDeadlineSeconds=100), old) == []  # nil -> positive
    with_deadline = stored(activeDeadlineSeconds=100)
    assert run("Pod", changed(with_deadline, activeDeadlineSeconds=50), with_deadline) == []  # lowered
    assert causes_of(run("Pod", changed(with_deadline, activeDeadlineSeconds=200), with_deadline),
                     "spec.activeDeadlineSeconds") == ["Invalid value: 200: must be less than or equal to previous value"]
    unset = copy.deepcopy(with_deadline)
    del unset["spec"]["activeDeadlineSeconds"]
    assert causes_of(run("Pod", unset, with_deadline), "spec.activeDeadlineSeconds") == [
        "Invalid value: null: must not update from a positive integer to nil value"]


def test_tolerations_only_additions() -> None:
    tol = {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    old = stored(tolerations=[tol])
    added = changed(old, tolerations=[tol, {"key": "other", "operator": "Exists"}])
    assert run("Pod", added, old) == []
    seconds = changed(old, tolerations=[{**tol, "tolerationSeconds": 10}])
    assert run("Pod", seconds, old) == []  # tolerationSeconds may change
    removed = changed(old, tolerations=[])
    assert causes_of(run("Pod", removed, old), "spec.tolerations") == [
        "Forbidden: existing toleration can not be modified except its tolerationSeconds"]


def test_scheduling_gates_only_removed() -> None:
    old = stored(schedulingGates=[{"name": "example.com/a"}])
    assert run("Pod", changed(old, schedulingGates=[]), old) == []
    assert causes_of(run("Pod", changed(old, schedulingGates=[{"name": "example.com/b"}]), old),
                     "spec.schedulingGates[0].name") == [
        "Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/b'"]
    gated_selector = changed(old, nodeSelector={"disk": "ssd"})
    assert run("Pod", gated_selector, old) == []  # additions to nodeSelector allowed while gated


def test_negative_grace_may_become_one() -> None:
    old = stored(terminationGracePeriodSeconds=-1)
    assert causes_of(run("Pod", changed(old, terminationGracePeriodSeconds=1), old), "spec") == []
    assert causes_of(run("Pod", changed(old, terminationGracePeriodSeconds=5), old), "spec")


def test_omitted_zero_values_compare_equal() -> None:
    old = stored()
    new = changed(old, hostNetwork=False, volumes=[])
    assert run("Pod", new, old) == []
