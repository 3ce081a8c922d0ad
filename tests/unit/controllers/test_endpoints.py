"""The Endpoints controller against a real API server: ready and not-ready addresses,
named target ports, terminating pods, no-op syncs and selector-less Services."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.client import Client
from gitkube.controllers.endpoints import EndpointsController, endpoint_subsets
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


def pod(name: str, ip: str, *, app: str = "web", ready: bool = True, node: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {**({"nodeName": node} if node else {}),
                     "containers": [{"name": "c", "image": "python",
                                     "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"podIP": ip, "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


async def add_pod(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    await client.create("pods", {k: v for k, v in body.items() if k != "status"}, "default")
    return await client.patch("pods", body["metadata"]["name"], {"status": body["status"]}, "default",
                              subresource="status")


def service(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
                     **spec}}


async def endpoints(client: Client, name: str = "web") -> dict[str, Any] | None:
    try:
        return await client.get("endpoints", name, "default")
    except errors.NotFound:
        return None


async def test_ready_and_not_ready_addresses_with_named_target_port(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        a = await add_pod(client, pod("a", "127.1.0.2", node="n1"))
        await add_pod(client, pod("b", "127.1.0.3", ready=False))
        await add_pod(client, pod("other", "127.1.0.9", app="other"))
        await client.create("services", service(), "default")
        async with running(EndpointsController(client)):
            ep = await eventually(lambda: endpoints(client))
            assert ep["metadata"]["labels"] == {"team": "a"}
            assert ep["subsets"] == [{
                "addresses": [{"ip": "127.1.0.2", "nodeName": "n1",
                               "targetRef": {"kind": "Pod", "namespace": "default", "name": "a",
                                             "uid": a["metadata"]["uid"]}}],
                "notReadyAddresses": [{"ip": "127.1.0.3", "targetRef": {
                    "kind": "Pod", "namespace": "default", "name": "b", "uid": ep["subsets"][0]["notReadyAddresses"][0]
                    ["targetRef"]["uid"]}}],
                "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}]
            # b becomes ready: it moves to addresses
            await client.patch("pods", "b", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                               "default", subresource="status")
            ep = await eventually(lambda: _ready_ips(client, ["127.1.0.2", "127.1.0.3"]))
            assert "notReadyAddresses" not in ep["subsets"][0]
            # a terminating pod leaves the endpoints
            await client.patch("pods", "a", {"metadata": {"finalizers": ["test/hold"]}}, "default")
            await client.delete("pods", "a", "default")
            await eventually(lambda: _ready_ips(client, ["127.1.0.3"]))
            await client.patch("pods", "a", {"metadata": {"finalizers": None}}, "default")


async def _ready_ips(client: Client, ips: list[str]) -> dict[str, Any] | None:
    ep = await endpoints(client)
    if ep is None or not ep.get("subsets"):
        return None
    got = [a["ip"] for a in ep["subsets"][0].get("addresses") or []]
    return ep if got == ips else None


async def test_no_write_when_unchanged_and_selectorless_untouched(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await add_pod(client, pod("a", "127.1.0.2"))
        await client.create("services", service(ports=[{"port": 81, "targetPort": 9090}]), "default")
        manual = service("manual")
        del manual["spec"]["selector"]
        await client.create("services", manual, "default")
        await client.create("endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                                          "subsets": [{"addresses": [{"ip": "127.2.0.1"}], "ports": [{"port": 5}]}]},
                            "default")
        controller = EndpointsController(client)
        async with running(controller):
            ep = await eventually(lambda: endpoints(client))
            assert ep["subsets"][0]["ports"] == [{"port": 9090, "protocol": "TCP"}]
            version = ep["metadata"]["resourceVersion"]
            await controller.sync("default/web")
            await client.patch("services", "web", {"metadata": {"annotations": {"x": "y"}}}, "default")
            await asyncio.sleep(0.3)
            again = await endpoints(client)
            assert again is not None and again["metadata"]["resourceVersion"] == version
            kept = await endpoints(client, "manual")
            assert kept is not None
            assert kept["subsets"][0]["addresses"] == [{"ip": "127.2.0.1"}]
            await client.delete("services", "web", "default")
            await eventually(lambda: _gone(client))


async def _gone(client: Client) -> bool:
    return await endpoints(client) is None


def test_publish_not_ready_and_subsets_grouped_by_ports() -> None:
    svc = service(publishNotReadyAddresses=True)
    svc["metadata"].update(namespace="default")
    p1 = pod("a", "127.1.0.2", ready=False)
    p2 = pod("b", "127.1.0.3")
    p2["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 9000}]
    p3 = pod("c", "127.1.0.4")
    p3["spec"]["containers"][0]["ports"] = []  # no port named http: left out
    for p in (p1, p2, p3):
        p["metadata"].update(namespace="default", uid=p["metadata"]["name"])
    subsets = endpoint_subsets(svc, [p1, p2, p3])
    assert [[a["ip"] for a in s["addresses"]] for s in subsets] == [["127.1.0.2"], ["127.1.0.3"]]
    assert [s["ports"][0]["port"] for s in subsets] == [8080, 9000]
    assert all("notReadyAddresses" not in s for s in subsets)
