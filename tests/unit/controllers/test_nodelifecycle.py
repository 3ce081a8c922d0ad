"""The node lifecycle controller under a fake clock: a node whose Lease stops being renewed
goes Unknown, is tainted, its pods go NotReady and are evicted after their toleration;
a node that comes back loses the taints; a NotReady node gets the not-ready taints. Also
node IPAM handing out pod CIDRs."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.nodeipam import CIDRAllocator, NodeIpamController
from gitkube.controllers.nodelifecycle import NodeLifecycleController, eviction_deadline
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)






async def make_node(client: Client, name: str, clock: FakeClock, ready: str = "True") -> None:
    await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    stamp = meta.format_time(clock.now)
    await client.patch("nodes", name, {"status": {"conditions": [
        {"type": "Ready", "status": ready, "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}]}}, subresource="status")


async def renew_lease(client: Client, name: str, clock: FakeClock) -> None:
    spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    try:
        await client.patch("leases", name, {"spec": spec}, "kube-node-lease")
    except Exception:
        await client.create("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                        "metadata": {"name": name}, "spec": spec}, "kube-node-lease")


async def make_pod(client: Client, name: str, node: str, tolerations: list[dict[str, Any]] | None = None) -> None:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "python"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    await client.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}, "default")
    await client.patch("pods", name, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": meta.now()}]}}, "default", subresource="status")


async def node_ready(client: Client, name: str) -> dict[str, Any]:
    node = await client.get("nodes", name)
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def taint_keys(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def settle(controller: NodeLifecycleController) -> None:
    """Let a few monitor periods pass (real time; the fake clock stands still)."""
    await asyncio.sleep(controller.monitor_period * 6)


async def observed(controller: NodeLifecycleController, *, lease: bool = False) -> None:
    """Wait until the caches hold the node (and its renewed lease), then sync it once, so
    the controller has stamped the heartbeat before the fake clock moves on."""
    clock = controller.clock

    async def cached() -> bool:
        if controller.nodes.get(None, "n1") is None:
            return False
        if not lease:
            return True
        got = controller.leases.get("kube-node-lease", "n1")
        return got is not None and got["spec"]["renewTime"].startswith(meta.format_time(clock())[:-1])

    await eventually(cached)
    await controller.sync("n1")


async def test_lease_expiry_taints_node_and_evicts_pods(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        clock = FakeClock()
        await make_node(client, "n1", clock)
        await renew_lease(client, "n1", clock)
        await make_pod(client, "plain", "n1")
        await make_pod(client, "patient", "n1", [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                                   "effect": "NoExecute", "tolerationSeconds": 600}])
        await make_pod(client, "forever", "n1", [{"operator": "Exists"}])
        controller = NodeLifecycleController(client, clock=clock, monitor_period=0.02)
        async with running(controller):
            await observed(controller)
            clock.advance(30)
            await renew_lease(client, "n1", clock)  # the lease keeps the node alive past 40 s
            await observed(controller, lease=True)
            clock.advance(30)
            await settle(controller)
            assert (await node_ready(client, "n1"))["status"] == "True"
            clock.advance(11)
            cond = await eventually(lambda: _ready_is(client, "Unknown"))
            assert cond["reason"] == "NodeStatusUnknown" and cond["message"] == "Kubelet stopped posting node status."
            node = await eventually(lambda: _tainted(client, "node.kubernetes.io/unreachable"))
            assert taint_keys(node) == {("node.kubernetes.io/unreachable", "NoSchedule"),
                                        ("node.kubernetes.io/unreachable", "NoExecute")}
            noexec = next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
            assert noexec["timeAdded"] == meta.format_time(clock.now)
            for name in ("plain", "patient", "forever"):
                await eventually(lambda: _pod_ready_is(client, name, "False"))  # noqa: B023
            clock.advance(299)
            await settle(controller)
            assert not await _terminating(client, "plain")
            clock.advance(2)
            await eventually(lambda: _terminating(client, "plain"))
            assert not await _terminating(client, "patient")
            clock.advance(300)
            await eventually(lambda: _terminating(client, "patient"))
            await settle(controller)
            assert not await _terminating(client, "forever")
            events = (await client.list("events", "default"))["items"]
            assert any(e["reason"] == "TaintManagerEviction" and e["message"] == "Marking for deletion Pod default/plain"
                       for e in events)
            # the node comes back: Ready again, taints gone
            stamp = meta.format_time(clock.now)
            await client.patch("nodes", "n1", {"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp,
                 "lastTransitionTime": stamp}]}}, subresource="status")
            await eventually(lambda: _untainted(client))


async def _ready_is(client: Client, status: str) -> dict[str, Any] | None:
    cond = await node_ready(client, "n1")
    return cond if cond["status"] == status else None


async def _tainted(client: Client, key: str) -> dict[str, Any] | None:
    node = await client.get("nodes", "n1")
    return node if any(t["key"] == key for t in (node.get("spec") or {}).get("taints") or []) else None


async def _untainted(client: Client) -> bool:
    return not (await client.get("nodes", "n1")).get("spec", {}).get("taints")


async def _pod_ready_is(client: Client, name: str, status: str) -> bool:
    pod = await client.get("pods", name, "default")
    return any(c["type"] == "Ready" and c["status"] == status for c in pod["status"].get("conditions") or [])


async def _terminating(client: Client, name: str) -> bool:
    try:
        pod = await client.get("pods", name, "default")
    except Exception:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


async def test_not_ready_node_gets_not_ready_taints(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        clock = FakeClock()
        await make_node(client, "n1", clock, ready="False")
        controller = NodeLifecycleController(client, clock=clock, monitor_period=0.02)
        async with running(controller):
            node = await eventually(lambda: _tainted(client, "node.kubernetes.io/not-ready"))
            assert taint_keys(node) == {("node.kubernetes.io/not-ready", "NoSchedule"),
                                        ("node.kubernetes.io/not-ready", "NoExecute")}
            assert (await node_ready(client, "n1"))["status"] == "False"


def test_eviction_deadline() -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    unreachable = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:00Z"}
    custom = {"key": "dedicated", "value": "db", "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:10Z"}
    bare: dict[str, Any] = {"spec": {}}
    assert eviction_deadline(bare, [unreachable], 300, t0) == t0 + dt.timedelta(seconds=300)
    assert eviction_deadline(bare, [unreachable, custom], 300, t0) == t0 + dt.timedelta(seconds=10)
    tolerant = {"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoExecute"},
                                         {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                          "tolerationSeconds": 30}]}}
    assert eviction_deadline(tolerant, [unreachable, custom], 300, t0) == t0 + dt.timedelta(seconds=30)
    wrong_value = {"spec": {"tolerations": [{"key": "dedicated", "value": "web", "effect": "NoExecute"}]}}
    assert eviction_deadline(wrong_value, [custom], 300, t0) == t0 + dt.timedelta(seconds=10)
    assert eviction_deadline({"spec": {"tolerations": [{"operator": "Exists"}]}}, [unreachable, custom], 300, t0) is None


async def test_node_ipam_assigns_pod_cidrs(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pre"},
                                      "spec": {"podCIDR": "127.64.2.0/24", "podCIDRs": ["127.64.2.0/24"]}})
        for name in ("a", "b"):
            await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        async with running(NodeIpamController(client)):
            cidrs = await eventually(lambda: _cidrs(client, 3))
            assert cidrs["pre"] == "127.64.2.0/24"
            assert {cidrs["a"], cidrs["b"]} == {"127.64.1.0/24", "127.64.3.0/24"}
            node = await client.get("nodes", "a")
            assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]
            await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "c"}})
            cidrs = await eventually(lambda: _cidrs(client, 4))
            assert cidrs["c"] == "127.64.4.0/24"
        # a new controller (a restarted daemon) derives the used ranges from the nodes
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "d"}})
        async with running(NodeIpamController(client)):
            cidrs = await eventually(lambda: _cidrs(client, 5))
            assert cidrs["d"] == "127.64.5.0/24"


async def _cidrs(client: Client, n: int) -> dict[str, str] | None:
    nodes = (await client.list("nodes"))["items"]
    got = {x["metadata"]["name"]: x["spec"]["podCIDR"] for x in nodes if x.get("spec", {}).get("podCIDR")}
    return got if len(got) == n else None


def test_cidr_allocator_bounds() -> None:
    small = CIDRAllocator("10.0.0.0/23", 24)
    assert small.first_free(set()) == "10.0.1.0/24"
    assert small.first_free({1}) is None
    assert small.index_of("10.0.1.0/24") == 1 and small.index_of("10.9.0.0/24") is None
