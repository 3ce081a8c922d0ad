"""persistentVolumeClaim volumes: claim -> bound PersistentVolume -> its hostPath directory,
resolved through a real API server, and the FailedMount errors when that chain is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.agent import envvars, volumes
from gitkube.testing import running_apiserver


def _pod(claim: str = "data-db-0", read_only: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"claimName": claim}
    if read_only:
        source["readOnly"] = True
    return {"metadata": {"name": "db-0", "namespace": "default", "uid": "u-1"},
            "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": source}],
                     "containers": [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/db"}]}]}}


async def test_bound_claim_mounts_the_volume_directory(tmp_path: Path) -> None:
    host = tmp_path / "volumes" / "pvc-1"
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                     "hostPath": {"path": str(host), "type": "DirectoryOrCreate"},
                     "claimRef": {"namespace": "default", "name": "data-db-0"}}})
        claim = await client.create("persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-db-0"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}, "default")

        with pytest.raises(errors.RuntimeFailure) as caught:
            await volumes.resolve_claims(client, _pod())
        assert caught.value.reason == "FailedMount"
        assert caught.value.message == ('MountVolume.SetUp failed for volume "data" : '
                                        'persistentvolumeclaim "data-db-0" is not bound')
        with pytest.raises(errors.RuntimeFailure, match='persistentvolumeclaims "missing" not found'):
            await volumes.resolve_claims(client, _pod("missing"))

        claim["spec"]["volumeName"] = "pvc-1"
        claim = await client.update("persistentvolumeclaims", claim)
        claim["status"] = {"phase": "Bound"}
        await client.update_status("persistentvolumeclaims", claim)
        claims = await volumes.resolve_claims(client, _pod())
    assert claims == {"data": host}

    pod = _pod()
    paths = volumes.materialize(pod, tmp_path / "pod", envvars.PodFacts(pod, "127.0.0.2", "127.0.0.1"),
                                configmaps={}, secrets={}, claims=claims)
    assert paths == {"data": host} and host.is_dir()
    (mount,) = volumes.container_mounts(pod, pod["spec"]["containers"][0], paths)
    assert (mount.host_path, mount.container_path, mount.read_only) == (host, "/var/lib/db", False)
    read_only = _pod(read_only=True)
    (mount,) = volumes.container_mounts(read_only, read_only["spec"]["containers"][0], paths)
    assert mount.read_only
    volumes.remove(tmp_path / "pod")
    assert host.is_dir()  # the claim's data is not the pod's to remove


def test_unresolved_claim_fails_the_mount(tmp_path: Path) -> None:
    pod = _pod()
    with pytest.raises(errors.RuntimeFailure, match="is not bound"):
        volumes.materialize(pod, tmp_path / "pod", envvars.PodFacts(pod, "127.0.0.2", "127.0.0.1"),
                            configmaps={}, secrets={})
