"""Server-side apply: scenario fixtures (tests/testdata/patch/apply.yaml) and focused cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitkube import errors
from gitkube.apiserver.patch import MERGE_PATCH, apply_patch, server_side_apply, track_update
from gitkube.apiserver.patch.apply import LAST_APPLIED_ANNOTATION

SCENARIOS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[3] / "testdata" / "patch" / "apply.yaml").read_text()
)
T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T11:00:00Z"


def _without_managed(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.get("metadata", {}).pop("managedFields", None)
    return out


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj.get("metadata", {}).get("managedFields") or [])


def _owner(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    found = [e for e in _entries(obj) if e["manager"] == manager]
    assert len(found) == 1, f"{manager} has {len(found)} entries in {json.dumps(_entries(obj))}"
    fields: dict[str, Any] = found[0]["fieldsV1"]
    return fields


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_apply_scenario(scenario: dict[str, Any]) -> None:
    api_version = scenario.get("apiVersion", "apps/v1")
    kind = scenario.get("kind", "Deployment")
    obj: dict[str, Any] | None = None
    for step in scenario["steps"]:
        before = copy.deepcopy(obj)
        try:
            if "apply" in step:
                spec = step["apply"]
                config = {"apiVersion": api_version, "kind": kind, **copy.deepcopy(spec["config"])}
                config.setdefault("metadata", {})["name"] = "web"
                result = server_side_apply(
                    obj,
                    config,
                    manager=spec["manager"],
                    force=spec.get("force", False),
                    api_version=api_version,
                    kind=kind,
                    now=T0,
                )
            else:
                spec = step["update"]
                result = apply_patch(
                    MERGE_PATCH, obj or {}, json.dumps(spec["patch"]).encode(), api_version, kind
                )
                track_update(obj, result, manager=spec["manager"], api_version=api_version, kind=kind, now=T1)
        except errors.APIError as exc:
            assert "error" in step, f"unexpected {exc.to_status()}"
            assert exc.code == step["error"]["status"]
            assert exc.message == step["error"]["message"]
            assert obj == before
            continue
        assert "error" not in step, "the step should have failed"
        assert obj == before, "inputs must not be modified"
        obj = result
        if "want" in step:
            assert _without_managed(obj) == step["want"]
        for manager, fields in (step.get("owners") or {}).items():
            assert _owner(obj, manager) == fields
        if "managers" in step:
            assert [f"{e['manager']}/{e['operation']}" for e in _entries(obj)] == step["managers"]


def _deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]
                },
            },
        },
    }
    base["spec"].update(spec)
    return base


def _ssa(
    live: dict[str, Any] | None, config: dict[str, Any], manager: str = "kubectl", force: bool = False
) -> dict[str, Any]:
    return server_side_apply(
        live, config, manager=manager, force=force, api_version="apps/v1", kind="Deployment", now=T0
    )


def test_create_records_an_apply_entry_like_kubectl_apply_server_side() -> None:
    obj = _ssa(None, _deployment())
    (entry,) = obj["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1" and entry["time"] == T0 and entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
                            },
                        }
                    }
                },
            },
        },
    }
    assert _without_managed(obj) == _deployment()


def test_reapplying_the_same_configuration_changes_nothing() -> None:
    first = _ssa(None, _deployment())
    again = server_side_apply(
        first, _deployment(), manager="kubectl", force=False, api_version="apps/v1", kind="Deployment", now=T1
    )
    assert again == first, "no-op apply: same object, same managedFields, time not bumped"


def test_conflict_with_client_side_apply_manager_lists_every_cause() -> None:
    live = _deployment()
    track_update(
        None, live, manager="kubectl-client-side-apply", api_version="apps/v1", kind="Deployment", now=T0
    )
    changed = _deployment(replicas=4)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    with pytest.raises(errors.Conflict) as info:
        _ssa(live, changed, manager="deployer")
    status = info.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": ".spec.replicas",
        },
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": '.spec.template.spec.containers[name="web"].image',
        },
    ]
    forced = _ssa(live, changed, manager="deployer", force=True)
    managers = {e["manager"]: e for e in forced["metadata"]["managedFields"]}
    assert forced["spec"]["replicas"] == 4
    assert "f:replicas" in managers["deployer"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in managers["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]
    assert [e["operation"] for e in forced["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_conflict_with_an_applier_names_it_without_version() -> None:
    live = _ssa(None, _deployment(), manager="kubectl")
    with pytest.raises(errors.Conflict) as info:
        _ssa(live, _deployment(replicas=9), manager="argocd")
    assert info.value.message == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert info.value.causes[0].message == 'conflict with "kubectl"'


def test_client_side_to_server_side_upgrade_allows_conflicts_on_last_applied_fields() -> None:
    manifest = _deployment(replicas=2)
    live = copy.deepcopy(manifest)
    live["metadata"]["annotations"] = {
        LAST_APPLIED_ANNOTATION: json.dumps(manifest, separators=(",", ":")) + "\n"
    }
    track_update(
        None, live, manager="kubectl-client-side-apply", api_version="apps/v1", kind="Deployment", now=T0
    )

    # kubectl apply --server-side with a changed manifest: no conflict for the manager "kubectl"
    upgraded = _ssa(live, _deployment(replicas=3), manager="kubectl")
    assert upgraded["spec"]["replicas"] == 3
    last_applied = json.loads(upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])
    assert last_applied["spec"]["replicas"] == 3, "the annotation follows the applied configuration"
    assert upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].endswith("}\n")

    # any other manager still conflicts
    with pytest.raises(errors.Conflict):
        _ssa(live, _deployment(replicas=3), manager="other")


def test_upgrade_still_conflicts_on_fields_changed_since_last_apply() -> None:
    manifest = _deployment(replicas=2)
    live = copy.deepcopy(manifest)
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: json.dumps(manifest)}
    track_update(
        None, live, manager="kubectl-client-side-apply", api_version="apps/v1", kind="Deployment", now=T0
    )
    scaled = apply_patch(MERGE_PATCH, live, b'{"spec":{"replicas":5}}', "apps/v1", "Deployment")
    track_update(live, scaled, manager="kubectl-scale", api_version="apps/v1", kind="Deployment", now=T1)
    with pytest.raises(errors.Conflict) as info:
        _ssa(scaled, _deployment(replicas=3), manager="kubectl")
    assert (
        info.value.message
        == 'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas'
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["spec"].update(replicass=3),
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicass: field not declared in schema",
        ),
        (
            lambda c: c["spec"].update(replicas="3"),
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string",
        ),
        (
            lambda c: c["spec"]["template"]["spec"]["containers"].append({"name": "web", "image": "x"}),
            'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="web"]',
        ),
        (
            lambda c: c["spec"]["template"]["spec"]["containers"][0].update(env=[{"name": "A", "value": 3}]),
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            '.spec.template.spec.containers[name="web"].env[name="A"].value: '
            "expected string, got &value.valueUnstructured{Value:3}",
        ),
        (
            lambda c: c["spec"]["template"]["spec"]["containers"][0].pop("name"),
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            ".spec.template.spec.containers: element 0: associative list with keys has an element that "
            'omits key field "name" (and doesn\'t have default value)',
        ),
        (lambda c: c.update(kind="StatefulSet"), "invalid object type: apps/v1, Kind=StatefulSet"),
        (lambda c: c.update(apiVersion="apps/v1beta1"), "invalid object type: apps/v1beta1, Kind=Deployment"),
        (lambda c: c["metadata"].update(managedFields=[]), "metadata.managedFields must be nil"),
    ],
)
def test_refused_configurations(mutate: Any, message: str) -> None:
    config = _deployment()
    mutate(config)
    with pytest.raises(errors.BadRequest) as info:
        _ssa(None, config)
    assert info.value.message == message


def test_int_or_string_and_quantities_are_accepted() -> None:
    config = _deployment(strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}})
    config["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "500m", "memory": 1024}
    }
    obj = _ssa(None, config)
    assert obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "25%"


def test_null_in_configuration_is_owned_and_unset() -> None:
    live = _ssa(None, _deployment(minReadySeconds=5))
    config = _deployment(minReadySeconds=None)
    obj = _ssa(live, config)
    assert "minReadySeconds" not in obj["spec"]
    assert "f:minReadySeconds" in obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]


def test_apply_keeps_system_metadata_and_removes_only_owned_fields() -> None:
    live = _deployment()
    live["metadata"].update(uid="u-1", resourceVersion="42", creationTimestamp=T0, generation=3)
    live["status"] = {"replicas": 2}
    obj = _ssa(live, _deployment(replicas=3))
    assert obj["metadata"]["uid"] == "u-1" and obj["metadata"]["resourceVersion"] == "42"
    assert obj["status"] == {"replicas": 2}
    assert obj["spec"]["replicas"] == 3


def test_subresource_apply_is_a_separate_identity() -> None:
    live = _ssa(None, _deployment())
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "status": {"replicas": 2},
    }
    obj = server_side_apply(
        live,
        status,
        manager="kubectl",
        force=False,
        api_version="apps/v1",
        kind="Deployment",
        now=T1,
        subresource="status",
    )
    entries = obj["metadata"]["managedFields"]
    assert [(e["manager"], e.get("subresource")) for e in entries] == [
        ("kubectl", None),
        ("kubectl", "status"),
    ]
    assert entries[1]["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    assert obj["spec"] == live["spec"], "the status apply did not prune the main resource's fields"
