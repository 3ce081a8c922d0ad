"""LimitRanger's PersistentVolumeClaim items through a real in-process API server: a claim
outside the storage range is refused with 403 and Kubernetes' wording, on create and resize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.testing import running_apiserver


def _pvc(name: str, storage: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


async def test_pvc_storage_min_and_max(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("limitranges", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "storage"},
            "spec": {"limits": [{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
                                 "max": {"storage": "10Gi"}}]}}, "default")
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("persistentvolumeclaims", _pvc("small", "500Mi"), "default")
        assert exc.value.message == ('persistentvolumeclaims "small" is forbidden: minimum storage usage per '
                                     "PersistentVolumeClaim is 1Gi, but request is 500Mi")
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("persistentvolumeclaims", _pvc("big", "20Gi"), "default", dry_run=True)
        assert exc.value.message == ('persistentvolumeclaims "big" is forbidden: maximum storage usage per '
                                     "PersistentVolumeClaim is 10Gi, but request is 20Gi")
        await client.create("persistentvolumeclaims", _pvc("ok", "2Gi"), "default")
        await client.create("persistentvolumeclaims", _pvc("other-ns", "500Mi"), "kube-system")
        live = await client.get("persistentvolumeclaims", "ok", "default")
        live["status"] = {"phase": "Bound"}  # only a bound claim may be resized
        live = await client.update_status("persistentvolumeclaims", live)
        live["spec"]["resources"]["requests"]["storage"] = "20Gi"
        with pytest.raises(errors.Forbidden, match="maximum storage usage per PersistentVolumeClaim is 10Gi"):
            await client.update("persistentvolumeclaims", live)
        live["spec"]["resources"]["requests"]["storage"] = "5Gi"
        resized = await client.update("persistentvolumeclaims", live)
        assert resized["spec"]["resources"]["requests"]["storage"] == "5Gi"
        names = [o["metadata"]["name"] for o in (await client.list("persistentvolumeclaims", "default"))["items"]]
        assert names == ["ok"]
