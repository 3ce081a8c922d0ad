"""The node agent against a real API server and the FakeRuntime: node, pod start, init
containers, simulated nodes, adoption."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from gitkube.testing.runtime import FakeBehaviour

from .agentkit import CIDR, NODE, cluster, condition, container, cstatus, events_of, is_ready, pod, wait_pod


async def test_node_is_registered_with_capacity_conditions_and_lease(tmp_path):
    async with cluster(tmp_path, capacity={"cpu": "4", "memory": "8Gi"}) as kit:
        await asyncio.wait_for(kit.agent.registered.wait(), 5)
        node = await kit.client.get("nodes", NODE)
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
        assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
        assert node["status"]["capacity"]["cpu"] == "4"
        assert node["status"]["allocatable"]["memory"] == "8Gi"
        assert node["status"]["capacity"]["pods"] == "110"
        assert node["spec"]["podCIDR"] == CIDR
        types = [c["type"] for c in node["status"]["conditions"]]
        assert types == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
        for _ in range(100):
            if kit.agent.heartbeat.renewals >= 2:
                break
            await asyncio.sleep(0.05)
        lease = await kit.client.get("leases", NODE, "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == NODE
        assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
        assert kit.agent.heartbeat.renewals >= 2


async def test_node_capacity_defaults_to_the_machine(tmp_path):
    import psutil

    async with cluster(tmp_path) as kit:
        await asyncio.wait_for(kit.agent.registered.wait(), 5)
        node = await kit.client.get("nodes", NODE)
        assert node["status"]["capacity"]["cpu"] == str(psutil.cpu_count())
        assert node["status"]["capacity"]["memory"].endswith("Ki")


async def test_bound_pod_becomes_running_and_ready_with_an_ip(tmp_path):
    async with cluster(tmp_path) as kit:
        await kit.client.create("pods", pod("web", [container()]))
        p = await wait_pod(kit.client, "web", is_ready)
        st = p["status"]
        assert st["phase"] == "Running"
        assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(CIDR)
        assert st["podIPs"] == [{"ip": st["podIP"]}]
        assert st["hostIP"] == "127.0.0.1"
        assert st["qosClass"] == "BestEffort"
        assert [c["type"] for c in st["conditions"]][:4] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                               "ContainersReady"]
        assert condition(p, "PodScheduled") in ("True", "")
        cs = cstatus(p)
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        assert "startedAt" in cs["state"]["running"]
        assert cs["containerID"] == f"gitkube://{p['metadata']['uid']}/app/0"
        assert cs["image"] == "python:3.11"
        spec = kit.runtime.started[0]
        assert spec.argv == ("sleep", "3600")
        assert spec.pod_ip == st["podIP"]
        assert dict(spec.env)["HOSTNAME"] == "web"
        await kit.agent.events.flush()
        evs = await events_of(kit.client, "web")
        assert ("Created", "Created container app") in evs
        assert ("Started", "Started container app") in evs


async def test_pods_get_distinct_ips(tmp_path):
    async with cluster(tmp_path) as kit:
        for i in range(3):
            await kit.client.create("pods", pod(f"p{i}", [container()]))
        ips = {(await wait_pod(kit.client, f"p{i}", is_ready))["status"]["podIP"] for i in range(3)}
        assert len(ips) == 3


async def test_init_containers_run_in_order_before_the_app(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("init1", FakeBehaviour(exit_code=0, after=0.1))
        kit.runtime.behave("init2", FakeBehaviour(exit_code=0, after=0.1))
        spec_pod = pod("ini", [container()], initContainers=[container("init1", ["true"]), container("init2", ["true"])])
        await kit.client.create("pods", spec_pod)
        pending = await wait_pod(kit.client, "ini", lambda p: "running" in cstatus(p, "init1", init=True).get("state", {}))
        assert pending["status"]["phase"] == "Pending"
        assert condition(pending, "Initialized") == "False"
        assert cstatus(pending)["state"]["waiting"]["reason"] == "PodInitializing"
        p = await wait_pod(kit.client, "ini", is_ready)
        assert [s.name for s in kit.runtime.started] == ["init1", "init2", "app"]
        assert cstatus(p, "init2", init=True)["state"]["terminated"]["reason"] == "Completed"
        assert condition(p, "Initialized") == "True"


async def test_failed_init_container_with_restart_never_fails_the_pod(tmp_path):
    async with cluster(tmp_path) as kit:
        kit.runtime.behave("init1", FakeBehaviour(exit_code=3, after=0.05))
        await kit.client.create("pods", pod("bad", [container()], restartPolicy="Never",
                                            initContainers=[container("init1", ["false"])]))
        p = await wait_pod(kit.client, "bad", lambda p: p["status"]["phase"] == "Failed")
        assert cstatus(p, "init1", init=True)["state"]["terminated"]["exitCode"] == 3
        assert [s.name for s in kit.runtime.started] == ["init1"]


async def test_simulated_node_marks_pods_running_without_processes(tmp_path):
    async with cluster(tmp_path, simulated=True, pod_cidr=None) as kit:
        await kit.client.create("pods", pod("sim", [container(), container("side")]))
        p = await wait_pod(kit.client, "sim", is_ready)
        assert p["status"]["phase"] == "Running"
        assert p["status"]["podIP"]
        assert all(c["ready"] for c in p["status"]["containerStatuses"])
        assert kit.runtime.started == []


async def test_adoption_keeps_running_containers(tmp_path):
    async with cluster(tmp_path) as kit:
        await kit.client.create("pods", pod("keep", [container(readinessProbe={
            "exec": {"command": ["check"]}, "periodSeconds": 1})]))
        before = await wait_pod(kit.client, "keep", is_ready)
        first = kit.runtime.running_for(before["metadata"]["uid"])
        assert len(first) == 1
        await kit.stop_agent()
        assert first[0].running()  # cancelling the agent leaves containers alone
        kit.restart_agent()
        await asyncio.wait_for(kit.agent.registered.wait(), 5)
        await asyncio.sleep(0.8)
        after = await wait_pod(kit.client, "keep", is_ready)
        assert len(kit.runtime.started) == 1
        assert kit.runtime.running_for(before["metadata"]["uid"])[0].pid == first[0].pid
        assert after["status"]["podIP"] == before["status"]["podIP"]
        assert cstatus(after)["restartCount"] == 0
        assert cstatus(after)["containerID"] == cstatus(before)["containerID"]


async def test_shutdown_pods_stops_containers_gracefully(tmp_path):
    async with cluster(tmp_path) as kit:
        await kit.client.create("pods", pod("bye", [container()]))
        p = await wait_pod(kit.client, "bye", is_ready)
        [running] = kit.runtime.running_for(p["metadata"]["uid"])
        await kit.agent.shutdown_pods()
        assert not running.running()
        assert running.stop_calls[0] == pytest.approx(2.0, abs=0.1)
