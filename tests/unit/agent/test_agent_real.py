"""The node agent with the real runtime: a Python HTTP server pod answering on its pod IP."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .agentkit import cluster, container, cstatus, is_ready, pod, wait_gone, wait_pod

runtime_mod = pytest.importorskip("gitkube.agent.runtime")


async def test_http_server_pod_serves_on_its_pod_ip_and_stops_on_delete(tmp_path):
    data = tmp_path / "agent"
    data.mkdir()
    runtime = runtime_mod.detect_runtime(data)
    async with cluster(tmp_path, runtime=runtime) as kit:
        c = container(command=["python3", "-m", "http.server", "--bind", "$(POD_IP)", "$(PORT)"],
                      env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                           {"name": "PORT", "value": "18080"}],
                      ports=[{"name": "http", "containerPort": 18080}],
                      readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1})
        await kit.client.create("pods", pod("srv", [c]))
        p = await wait_pod(kit.client, "srv", is_ready, timeout=30)
        ip = p["status"]["podIP"]
        async with aiohttp.ClientSession() as session, session.get(f"http://{ip}:18080/") as resp:
            assert resp.status == 200
            assert "Directory listing" in await resp.text()
        assert cstatus(p)["restartCount"] == 0
        [process] = await runtime.adopt(kit.data_dir / "pods" / f"default_srv_{p['metadata']['uid']}")
        assert process.running()
        await kit.client.delete("pods", "srv", "default")
        await wait_gone(kit.client, "srv", timeout=30)
        for _ in range(200):  # SIGTERM stops http.server at once
            if not process.running():
                break
            await asyncio.sleep(0.05)
        assert not process.running()
