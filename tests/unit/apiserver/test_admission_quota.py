"""LimitRanger and ResourceQuota admission through a real in-process API server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.client import Client
from gitkube.testing import running_apiserver


def pod(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c1", "image": "busybox", "resources": res}]}}


async def make_quota(client: Client, name: str, hard: dict[str, str]) -> None:
    await client.create("resourcequotas", {"apiVersion": "v1", "kind": "ResourceQuota",
                                           "metadata": {"name": name}, "spec": {"hard": hard}}, "default")


async def test_pod_count_quota_refuses_with_kubernetes_wording(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await make_quota(client, "q", {"pods": "2", "configmaps": "1"})
        await client.create("pods", pod("a"), "default")
        await client.create("pods", pod("b"), "default")
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("pods", pod("c"), "default")
        assert exc.value.message == ('pods "c" is forbidden: exceeded quota: q, requested: pods=1, '
                                     "used: pods=2, limited: pods=2")
        rq = await client.get("resourcequotas", "q", "default")
        assert rq["status"]["used"] == {"configmaps": "0", "pods": "2"}
        assert rq["status"]["hard"] == {"configmaps": "1", "pods": "2"}
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}
        await client.create("configmaps", cm, "default", dry_run=True)  # dry-run checks, never charges
        await client.create("configmaps", cm, "default")
        with pytest.raises(errors.Forbidden, match="exceeded quota: q, requested: configmaps=1"):
            await client.create("configmaps", {**cm, "metadata": {"name": "two"}}, "default")


async def test_compute_quota_needs_limits_and_counts_requests(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await make_quota(client, "compute", {"requests.cpu": "1", "limits.cpu": "2"})
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("pods", pod("x", {"cpu": "100m"}), "default")
        assert exc.value.message == 'pods "x" is forbidden: failed quota: compute: must specify limits.cpu for: c1'
        await client.create("pods", pod("a", {"cpu": "600m"}, {"cpu": "1"}), "default")
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("pods", pod("b", {"cpu": "500m"}, {"cpu": "500m"}), "default")
        assert exc.value.message == ('pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, '
                                     "used: requests.cpu=600m, limited: requests.cpu=1")


async def test_concurrent_creates_never_exceed_the_quota(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await make_quota(client, "q", {"pods": "3"})
        results = await asyncio.gather(*(client.create("pods", pod(f"p{i}"), "default") for i in range(8)),
                                       return_exceptions=True)
        assert sum(1 for r in results if not isinstance(r, BaseException)) == 3
        assert all(isinstance(r, errors.Forbidden) for r in results if isinstance(r, BaseException))
        assert len((await client.list("pods", "default"))["items"]) == 3


async def test_limit_range_defaults_and_max(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("limitranges", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"},
                                 "default": {"cpu": "500m", "memory": "128Mi"},
                                 "defaultRequest": {"cpu": "200m", "memory": "64Mi"}}]}}, "default")
        created = await client.create("pods", pod("d"), "default")
        res = created["spec"]["containers"][0]["resources"]
        assert res == {"requests": {"cpu": "200m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
        assert created["status"]["qosClass"] == "Burstable"
        assert "LimitRanger plugin set" in created["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
        with pytest.raises(errors.Forbidden) as exc:
            await client.create("pods", pod("x", {"cpu": "1"}, {"cpu": "2"}), "default")
        assert exc.value.message == 'pods "x" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
