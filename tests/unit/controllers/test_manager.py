"""The controller manager: every controller on shared informers against one API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.manager import CONTROLLER_NAMES, ControllerManager, selected_controllers
from gitkube.testing import running_apiserver


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    result: Any = None
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(errors.NotFound):
            result = await check()
            if result:
                return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s (last: {result!r})")


def test_selected_controllers() -> None:
    assert selected_controllers(None) == list(CONTROLLER_NAMES)
    assert selected_controllers(["*", "-nodeipam", "-deployment-controller", "-job-controller"]) == [
        "replicaset", "endpoint", "serviceaccount", "nodelifecycle", "daemonset", "statefulset",
        "persistentvolume-binder", "horizontalpodautoscaling", "cronjob", "resourcequota"]
    assert selected_controllers(["replicaset-controller", "endpoints"]) == ["replicaset", "endpoint"]
    with pytest.raises(errors.ConfigError, match="not in the list of known controllers"):
        selected_controllers(["bogus"])


async def _ready_pods(client: Client) -> list[dict[str, Any]] | None:
    pods = (await client.list("pods", "default", label_selector="app=web"))["items"]
    return pods if len(pods) == 2 else None


async def test_manager_runs_controllers_on_shared_informers(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        everything = ControllerManager(client, volume_dir=tmp_path / "volumes")
        names = [c.name for c in everything.controllers]
        assert len(names) == len(set(names)) == len(CONTROLLER_NAMES)
        manager = ControllerManager(client, enable=["replicaset", "endpoint", "serviceaccount", "nodelifecycle",
                                                    "nodeipam"])
        assert [c.name for c in manager.controllers] == [
            "replicaset-controller", "endpoint-controller", "serviceaccount-controller", "node-controller",
            "node-ipam-controller"]
        shared = manager.informers["pods"]
        for n in ("replicaset-controller", "endpoint-controller", "node-controller"):
            assert shared in manager.controller(n)._informers
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        await client.create("replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "python",
                                                           "ports": [{"name": "http", "containerPort": 8000}]}]}}}},
            "default")
        await client.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                         "spec": {"selector": {"app": "web"},
                                                  "ports": [{"port": 80, "targetPort": "http"}]}}, "default")
        task = asyncio.create_task(manager.run())
        try:
            pods = await eventually(lambda: _ready_pods(client))
            for i, pod in enumerate(pods):
                name = pod["metadata"]["name"]
                await client.bind("default", name, "n1")
                await client.patch("pods", name, {"status": {"phase": "Running", "podIP": f"127.64.1.{i + 2}",
                                                             "conditions": [{"type": "Ready", "status": "True",
                                                                             "lastTransitionTime": meta.now()}]}},
                                   "default", subresource="status")
            ep = await eventually(lambda: _endpoint_ips(client, 2))
            assert ep["subsets"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
            await eventually(lambda: client.get("serviceaccounts", "default", "kube-system"))
            node = await eventually(lambda: _with_cidr(client))
            assert node["spec"]["podCIDR"] == "127.64.1.0/24"
            rs = await eventually(lambda: _rs_ready(client))
            assert rs["status"]["availableReplicas"] == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _endpoint_ips(client: Client, n: int) -> dict[str, Any] | None:
    ep = await client.get("endpoints", "web", "default")
    subsets = ep.get("subsets") or []
    return ep if subsets and len(subsets[0].get("addresses") or []) == n else None


async def _with_cidr(client: Client) -> dict[str, Any] | None:
    node = await client.get("nodes", "n1")
    return node if (node.get("spec") or {}).get("podCIDR") else None


async def _rs_ready(client: Client) -> dict[str, Any] | None:
    rs = await client.get("replicasets", "web", "default")
    return rs if (rs.get("status") or {}).get("readyReplicas") == 2 else None


async def test_manager_builds_the_deployment_controller(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        manager = ControllerManager(client, enable=["deployment", "replicaset"])
        assert [c.name for c in manager.controllers] == ["deployment-controller", "replicaset-controller"]
        assert manager.controller("deployment-controller").informer("replicasets") is manager.informers["replicasets"]
        await client.create("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}},
                     "template": {"metadata": {"labels": {"app": "app"}},
                                  "spec": {"containers": [{"name": "c", "image": "python"}]}}}}, "default")
        task = asyncio.create_task(manager.run())
        try:
            await eventually(lambda: _app_pods(client))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _app_pods(client: Client) -> bool:
    return len((await client.list("pods", "default", label_selector="app=app"))["items"]) == 2
