"""``GET /metrics`` on a real API server: any valid token (read-only too), 401 without; the request
middleware's series after real requests; pods by phase counted from the store at scrape time."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gitkube.apiserver.server import APIServer
from gitkube.testing import running_apiserver
from tests.unit.observability.test_metrics import samples, value


async def scrape(server: APIServer, token: str | None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(server.creds.ca_cert))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/metrics", headers=headers, ssl=ctx) as response:
            return response.status, await response.text()


def pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_metrics_endpoint(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "data") as (server, client):
        status, body = await scrape(server, None)
        assert status == 401 and '"reason":"Unauthorized"' in body.replace(" ", "")
        status, body = await scrape(server, "not-a-token")
        assert status == 401

        for name in ("a", "b", "c"):
            await client.create("pods", pod(name), "default")
        running = await client.get("pods", "b", "default")
        running["status"] = {"phase": "Running"}
        await client.update_status("pods", running)
        await client.list("pods", "default")
        await client.list("pods", "default")

        status, body = await scrape(server, server.creds.readonly_token)
        assert status == 200
        list(text_string_to_metric_families(body))  # parses
        found = samples(body.encode())
        assert {labels["phase"]: v for labels, v in found["gitkube_pods"]}["Pending"] == 2
        assert {labels["phase"]: v for labels, v in found["gitkube_pods"]}["Running"] == 1
        assert value(found, "apiserver_request_total", verb="list", resource="pods", scope="namespace",
                     code="200") >= 2
        assert value(found, "apiserver_request_total", verb="create", resource="pods", code="201") == 3
        assert value(found, "apiserver_request_total", verb="update", resource="pods", subresource="status") == 1
        assert value(found, "apiserver_request_duration_seconds_count", verb="list", resource="pods") >= 2
        # the two 401s were counted too, on the /metrics path
        assert value(found, "apiserver_request_total", resource="", subresource="/metrics", code="401") == 2
        assert value(found, "process_resident_memory_bytes") > 0

        status, body = await scrape(server, server.creds.admin_token)
        assert status == 200
        found = samples(body.encode())
        assert value(found, "apiserver_request_total", resource="", subresource="/metrics", code="200") == 1
