"""The local provisioner and binder against a real API server: provisioning a directory per
claim, binding to a fitting static volume, and reclaiming (Delete removes the directory,
Retain leaves the volume Released)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.client import Client
from gitkube.controllers.volumes import PersistentVolumeController, find_matching_volume
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


def claim(name: str = "data", storage: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}, **spec}}


def volume(name: str, storage: str, policy: str = "Retain", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"], "capacity": {"storage": storage},
                     "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": f"/srv/{name}"}, **spec}}


async def _bound(client: Client, name: str) -> dict[str, Any] | None:
    obj = await client.get("persistentvolumeclaims", name, "default")
    return obj if (obj.get("status") or {}).get("phase") == "Bound" else None


async def _gone(client: Client, resource: str, name: str, ns: str | None = None) -> bool:
    try:
        await client.get(resource, name, ns)
    except errors.NotFound:
        return True
    return False


async def test_provisions_a_directory_and_binds_both_ways(tmp_path: Path) -> None:
    base = tmp_path / "volumes"
    async with running_apiserver(tmp_path / "d") as (_s, client):
        created = await client.create("persistentvolumeclaims", claim(storage="2Gi"), "default")
        async with running(PersistentVolumeController(client, base_dir=base)):
            bound = await eventually(lambda: _bound(client, "data"))
            name = f"pvc-{created['metadata']['uid']}"
            assert bound["spec"]["volumeName"] == name
            assert bound["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}
            assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
            pv = await client.get("persistentvolumes", name)
            assert pv["spec"]["hostPath"] == {"path": str(base / name), "type": "DirectoryOrCreate"}
            assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
            assert pv["spec"]["claimRef"]["uid"] == created["metadata"]["uid"]
            assert pv["spec"]["claimRef"]["name"] == "data" and pv["spec"]["claimRef"]["namespace"] == "default"
            assert pv["status"]["phase"] == "Bound"
            assert (base / name).is_dir()
            (base / name / "file").write_text("kept until the claim goes")

            await client.delete("persistentvolumeclaims", "data", "default")
            await eventually(lambda: _gone(client, "persistentvolumes", name))
            assert not (base / name).exists()
            events = (await client.list("events", "default"))["items"]
            assert any(e["reason"] == "ProvisioningSucceeded" for e in events)


async def test_binds_smallest_fitting_static_volume_and_retains_it(tmp_path: Path) -> None:
    base = tmp_path / "volumes"
    async with running_apiserver(tmp_path / "d") as (_s, client):
        for name, size in (("small", "500Mi"), ("medium", "2Gi"), ("large", "10Gi")):
            await client.create("persistentvolumes", volume(name, size, storageClassName="manual"))
        await client.create("persistentvolumes", volume("other-class", "1Gi", storageClassName="fast"))
        await client.create("persistentvolumeclaims", claim(storageClassName="manual"), "default")
        await client.create("persistentvolumeclaims", claim("nothing-fits", storage="50Gi", storageClassName="manual"),
                            "default")
        async with running(PersistentVolumeController(client, base_dir=base)):
            bound = await eventually(lambda: _bound(client, "data"))
            assert bound["spec"]["volumeName"] == "medium"
            assert bound["status"]["capacity"] == {"storage": "2Gi"}
            assert bound["status"]["accessModes"] == ["ReadWriteOnce", "ReadOnlyMany"]

            async def available(name: str) -> bool:
                return (await client.get("persistentvolumes", name)).get("status", {}).get("phase") == "Available"

            await eventually(lambda: available("small"))
            await eventually(lambda: available("large"))
            pending = await client.get("persistentvolumeclaims", "nothing-fits", "default")
            assert pending["status"]["phase"] == "Pending" and "volumeName" not in pending["spec"]
            assert not base.exists()  # an explicit class other than "local" is never provisioned

            await client.delete("persistentvolumeclaims", "data", "default")

            async def released() -> bool:
                return (await client.get("persistentvolumes", "medium"))["status"]["phase"] == "Released"

            await eventually(released)


async def test_prebound_volume_is_honoured() -> None:
    c = claim()
    c["metadata"].update(namespace="default", uid="u1")
    c["spec"]["storageClassName"] = ""
    free = volume("free", "1Gi")
    prebound = volume("reserved", "100Gi", claimRef={"namespace": "default", "name": "data"})
    taken = volume("taken", "1Gi", claimRef={"namespace": "default", "name": "other", "uid": "u2"})
    for v in (free, prebound, taken):
        v["metadata"]["uid"] = v["metadata"]["name"]
    assert find_matching_volume(c, [free, prebound, taken]) is prebound
    assert find_matching_volume(c, [taken, free]) is free
    block = claim(volumeMode="Block")
    block["metadata"].update(namespace="default", uid="u3")
    assert find_matching_volume(block, [free]) is None


async def test_claim_in_use_is_protected_until_its_pod_goes(tmp_path: Path) -> None:
    base = tmp_path / "volumes"
    async with running_apiserver(tmp_path / "d") as (_s, client):
        created = await client.create("persistentvolumeclaims", claim(), "default")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
               "spec": {"containers": [{"name": "c", "image": "python"}],
                        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}
        await client.create("pods", pod, "default")
        async with running(PersistentVolumeController(client, base_dir=base)):
            bound = await eventually(lambda: _bound(client, "data"))
            assert bound["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
            name = f"pvc-{created['metadata']['uid']}"
            await client.delete("persistentvolumeclaims", "data", "default")
            await asyncio.sleep(0.5)
            held = await client.get("persistentvolumeclaims", "data", "default")
            assert held["metadata"]["deletionTimestamp"] and (base / name).is_dir()
            await client.delete("pods", "user", "default", grace_period_seconds=0)
            await eventually(lambda: _gone(client, "persistentvolumeclaims", "data", "default"))
            await eventually(lambda: _gone(client, "persistentvolumes", name))
            assert not (base / name).exists()
