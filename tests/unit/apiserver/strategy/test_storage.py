"""PersistentVolumeClaim and PersistentVolume defaults and validation, and their 422 over HTTP."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.apiserver.strategy.storage import PVC_SPEC_IMMUTABLE
from gitkube.testing import running_apiserver

from . import causes_of, defaulted, run


def pvc(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
            "spec": body}


def pv(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                            "hostPath": {"path": "/srv/data"}}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "vol"}, "spec": body}


def test_pvc_defaults() -> None:
    obj = defaulted("PersistentVolumeClaim", pvc(resources={"requests": {"storage": "1024Mi"}}))
    assert obj["spec"]["volumeMode"] == "Filesystem"
    assert obj["status"] == {"phase": "Pending"}
    assert obj["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert run("PersistentVolumeClaim", pvc()) == []


def test_pv_defaults() -> None:
    obj = defaulted("PersistentVolume", pv())
    assert obj["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert obj["spec"]["volumeMode"] == "Filesystem"
    assert obj["status"] == {"phase": "Pending"}
    obj["metadata"]["namespace"] = "default"
    defaulted_again = defaulted("PersistentVolume", obj)
    assert "namespace" not in defaulted_again["metadata"]  # cluster-scoped
    assert run("PersistentVolume", pv()) == []


PVC_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"accessModes": []}, "spec.accessModes", "Required value: at least 1 access mode is required"),
    ({"accessModes": ["ReadWriteSometimes"]}, "spec.accessModes",
     'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", '
     '"ReadWriteOncePod"'),
    ({"resources": {}}, "spec.resources[storage]", "Required value"),
    ({"resources": {"requests": {"cpu": "1"}}}, "spec.resources[storage]", "Required value"),
    ({"resources": {"requests": {"storage": "0"}}}, "spec.resources.requests[storage]",
     'Invalid value: "0": must be greater than zero'),
    ({"volumeMode": "Raw"}, "spec.volumeMode", 'Unsupported value: "Raw": supported values: "Block", "Filesystem"'),
    ({"storageClassName": "Bad_Class"}, "spec.storageClassName", 'Invalid value: "Bad_Class": '),
]


@pytest.mark.parametrize(("spec", "field", "message"), PVC_CASES)
def test_pvc_validation(spec: dict[str, Any], field: str, message: str) -> None:
    messages = causes_of(run("PersistentVolumeClaim", pvc(**spec)), field)
    assert any(m.startswith(message) for m in messages), messages


def test_pvc_spec_is_immutable_except_binding_and_growing_bound_requests() -> None:
    old = pvc()
    grown = pvc(resources={"requests": {"storage": "2Gi"}})
    assert causes_of(run("PersistentVolumeClaim", grown, old), "spec") == [f"Forbidden: {PVC_SPEC_IMMUTABLE}"]
    bound = pvc(volumeName="pvc-1")
    assert run("PersistentVolumeClaim", bound, old) == []  # volumeName may be set once
    rebound = pvc(volumeName="pvc-2")
    assert causes_of(run("PersistentVolumeClaim", rebound, bound), "spec") == [f"Forbidden: {PVC_SPEC_IMMUTABLE}"]
    bound_old = copy.deepcopy(bound)
    bound_old["status"] = {"phase": "Bound"}
    grown_bound = pvc(volumeName="pvc-1", resources={"requests": {"storage": "2Gi"}})
    assert run("PersistentVolumeClaim", grown_bound, bound_old) == []
    shrunk = pvc(volumeName="pvc-1", resources={"requests": {"storage": "512Mi"}})
    assert causes_of(run("PersistentVolumeClaim", shrunk, bound_old), "spec.resources.requests.storage") == [
        "Forbidden: field can not be less than previous value"]
    other_modes = pvc(volumeName="pvc-1", accessModes=["ReadWriteMany"])
    assert causes_of(run("PersistentVolumeClaim", other_modes, bound_old), "spec") == [
        f"Forbidden: {PVC_SPEC_IMMUTABLE}"]


PV_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"capacity": None}, "spec.capacity", "Required value"),
    ({"capacity": {"storage": "1Gi", "cpu": "1"}}, "spec.capacity",
     'Unsupported value: "cpu": supported values: "storage"'),
    ({"capacity": {"storage": "-1"}}, "spec.capacity[storage]", 'Invalid value: "-1": must be greater than zero'),
    ({"accessModes": None}, "spec.accessModes", "Required value"),
    ({"hostPath": None}, "spec", "Required value: must specify a volume type"),
    ({"nfs": {"server": "x", "path": "/"}}, "spec.nfs", "Forbidden: may not specify more than 1 volume type"),
    ({"hostPath": {"path": ""}}, "spec.hostPath.path", "Required value"),
    ({"hostPath": {"path": "/srv/../etc"}}, "spec.hostPath.path", "Invalid value: \"/srv/../etc\": must not contain '..'"),
    ({"persistentVolumeReclaimPolicy": "Keep"}, "spec.persistentVolumeReclaimPolicy",
     'Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"'),
]


@pytest.mark.parametrize(("spec", "field", "message"), PV_CASES)
def test_pv_validation(spec: dict[str, Any], field: str, message: str) -> None:
    obj = pv(**spec)
    obj["spec"] = {k: v for k, v in obj["spec"].items() if v is not None}
    messages = causes_of(run("PersistentVolume", obj), field)
    assert message in messages, messages


def test_pv_source_is_immutable_but_claim_ref_is_not() -> None:
    old = pv()
    moved = pv(hostPath={"path": "/srv/other"})
    assert causes_of(run("PersistentVolume", moved, old), "spec.persistentvolumesource") == [
        "Forbidden: spec.persistentvolumesource is immutable after creation"]
    claimed = pv(claimRef={"namespace": "default", "name": "data"}, persistentVolumeReclaimPolicy="Delete")
    assert run("PersistentVolume", claimed, old) == []


async def test_served_with_short_names_and_422(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        with pytest.raises(errors.Invalid) as caught:
            await client.create("persistentvolumeclaims", pvc(accessModes=[]), "default")
        assert caught.value.message == ('PersistentVolumeClaim "data" is invalid: '
                                        "spec.accessModes: Required value: at least 1 access mode is required")
        created = await client.create("persistentvolumeclaims", pvc(), "default")
        assert created["status"] == {"phase": "Pending"}
        volume = await client.create("persistentvolumes", pv())
        assert "namespace" not in volume["metadata"]
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        volume["status"] = {"phase": "Available"}
        updated = await client.update_status("persistentvolumes", volume)
        assert updated["status"]["phase"] == "Available"
