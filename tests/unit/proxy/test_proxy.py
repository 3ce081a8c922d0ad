"""ServiceProxy against a real API server: Services and Endpoints written by the test,
real backends on unusual loopback addresses, real connections through the cluster IP."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gitkube.client import Client
from gitkube.proxy import ServiceProxy
from gitkube.testing import running_apiserver

from .backends import Backend, connect, eventually, greeting, running_backend, unusual_subnet

NS = "default"


def service(name: str, port: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": "http"}],
                     **spec}}


def endpoints(name: str, ready: list[Backend], not_ready: list[Backend] | None = None) -> dict[str, Any]:
    subsets = [{"addresses": [{"ip": b.host}], "ports": [{"name": "http", "port": b.port}]} for b in ready]
    subsets += [{"notReadyAddresses": [{"ip": b.host}], "ports": [{"name": "http", "port": b.port}]} for b in not_ready or []]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": subsets}


async def put_endpoints(client: Client, name: str, ready: list[Backend], not_ready: list[Backend] | None = None) -> None:
    live = await client.get("endpoints", name, NS)
    live["subsets"] = endpoints(name, ready, not_ready)["subsets"]
    await client.update("endpoints", live)


@contextlib.asynccontextmanager
async def running_proxy(client: Client, **kwargs: Any) -> AsyncIterator[ServiceProxy]:
    proxy = ServiceProxy(client, **kwargs)
    task = asyncio.create_task(proxy.run())
    try:
        await asyncio.wait_for(proxy.synced.wait(), 10)
        yield proxy
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serving(host: str, port: int, *, source: str | None = None) -> str:
    return await greeting(host, port, source=source)


async def test_balances_and_follows_endpoint_changes(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("a", f"{net}.11") as a, running_backend("b", f"{net}.12") as b, \
            running_proxy(client) as proxy:
        svc = await client.create("services", service("web", 8080), NS)
        ip = svc["spec"]["clusterIP"]
        assert ip.startswith("127.96.")
        await client.create("endpoints", endpoints("web", [a, b]), NS)

        async def both_ready() -> bool:
            bal = proxy.balancer("default/web", "http")
            return bal is not None and len(bal.backends) == 2
        await eventually(both_ready, what="two endpoints")
        names = [await serving(ip, 8080) for _ in range(6)]
        assert set(names) == {"a", "b"}
        assert all(x != y for x, y in zip(names, names[1:], strict=False)), names

        # A long-lived connection to each backend, then one backend leaves the endpoints.
        conns = {}
        for _ in range(2):
            reader, writer = await connect(ip, 8080)
            conns[(await reader.readline()).decode().strip()] = (reader, writer)
        assert set(conns) == {"a", "b"}
        await put_endpoints(client, "web", [b], not_ready=[a])

        async def only_b() -> bool:
            bal = proxy.balancer("default/web", "http")
            return bal is not None and [x.ip for x in bal.backends] == [b.host]
        await eventually(only_b, what="endpoint a removed")
        assert [await serving(ip, 8080) for _ in range(4)] == ["b"] * 4
        reader, writer = conns["a"]
        writer.write(b"still served by a\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"still served by a\n"
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b"bye 18\n"
        for _, w in conns.values():
            w.close()

        # No ready endpoint at all: connections are refused at once.
        await put_endpoints(client, "web", [], not_ready=[a, b])

        async def refused() -> bool:
            r, w = await connect(ip, 8080)
            try:
                return await asyncio.wait_for(r.read(), 1) == b""
            except ConnectionResetError:
                return True
            finally:
                w.close()
        await eventually(refused, what="refused without endpoints")

        # Deleting the Service closes its listener.
        await client.delete("services", "web", NS)

        async def closed() -> bool:
            try:
                _, w = await connect(ip, 8080)
            except ConnectionRefusedError:
                return True
            w.close()
            return False
        await eventually(closed, what="listener closed")
        assert proxy.listeners("default/web") == {}


async def test_session_affinity_client_ip(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("a", f"{net}.11") as a, running_backend("b", f"{net}.12") as b, \
            running_proxy(client) as proxy:
        svc = await client.create("services", service("sticky", 9090, sessionAffinity="ClientIP"), NS)
        assert svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 10800
        ip = svc["spec"]["clusterIP"]
        await client.create("endpoints", endpoints("sticky", [a, b]), NS)

        async def ready() -> bool:
            bal = proxy.balancer("default/sticky", "http")
            return bal is not None and len(bal.backends) == 2 and bal.affinity == 10800
        await eventually(ready, what="balancer with affinity")
        first = [await serving(ip, 9090, source=f"{net}.101") for _ in range(5)]
        second = [await serving(ip, 9090, source=f"{net}.102") for _ in range(5)]
        assert len(set(first)) == 1 and len(set(second)) == 1
        assert first[0] != second[0]  # the second client got the next backend in the rotation


async def test_bind_failure_is_reported_and_retried(tmp_path: Path) -> None:
    cluster_ip = f"127.96.{random.randint(100, 250)}.{random.randint(2, 250)}"
    net = unusual_subnet()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((cluster_ip, 7070))
    blocker.listen()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("a", f"{net}.11") as a, \
            running_proxy(client, retry_base=0.05, retry_cap=0.2) as proxy:
        await client.create("services", service("taken", 7070, clusterIP=cluster_ip), NS)
        await client.create("endpoints", endpoints("taken", [a]), NS)

        async def warned() -> bool:
            items = (await client.list("events", NS, field_selector="involvedObject.name=taken"))["items"]
            return any(e["reason"] == "FailedToStartServiceListener" and e["type"] == "Warning"
                       and "address already in use" in e["message"] and e["involvedObject"]["kind"] == "Service"
                       for e in items)
        await eventually(warned, what="FailedToStartServiceListener event")
        assert proxy.listeners("default/taken") == {}
        blocker.close()

        async def bound() -> bool:
            return await serving(cluster_ip, 7070) == "a"
        await eventually(bound, what="listener bound after retry")


async def test_node_port_and_unsupported_protocol(tmp_path: Path) -> None:
    net = unusual_subnet()
    node_address = f"{net}.1"
    node_port = random.randint(30000, 32767)
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("a", f"{net}.11") as a, \
            running_proxy(client, node_address=node_address) as proxy:
        spec = service("np", 8080, type="NodePort")
        spec["spec"]["ports"] = [{"name": "http", "port": 8080, "targetPort": 80, "nodePort": node_port},
                                 {"name": "dns", "port": 53, "protocol": "UDP"}]
        svc = await client.create("services", spec, NS)
        ip = svc["spec"]["clusterIP"]
        await client.create("endpoints", endpoints("np", [a]), NS)
        await eventually(lambda: _is(serving(node_address, node_port), "a"), what="node port")
        assert await serving(ip, 8080) == "a"
        assert set(proxy.listeners("default/np")) == {(ip, 8080), (node_address, node_port)}

        async def warned() -> bool:
            items = (await client.list("events", NS, field_selector="involvedObject.name=np"))["items"]
            return any(e["reason"] == "UnsupportedProtocol" and "53/UDP" in e["message"] for e in items)
        await eventually(warned, what="UnsupportedProtocol event")

        # Removing the node port (type back to ClusterIP) stops that listener only.
        live = await client.get("services", "np", NS)
        live["spec"]["type"] = "ClusterIP"
        for p in live["spec"]["ports"]:
            p.pop("nodePort", None)
        await client.update("services", live)

        async def node_port_gone() -> bool:
            return set(proxy.listeners("default/np")) == {(ip, 8080)}
        await eventually(node_port_gone, what="node port listener stopped")
        assert await serving(ip, 8080) == "a"


async def test_headless_and_external_name_get_no_listener(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_server, client), running_proxy(client) as proxy:
        await client.create("services", service("headless", 8080, clusterIP="None"), NS)
        await client.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                         "spec": {"type": "ExternalName", "externalName": "example.com"}}, NS)
        await client.create("services", service("marker", 8080), NS)
        await eventually(lambda: _true(bool(proxy.listeners("default/marker"))), what="marker listener")
        assert proxy.listeners("default/headless") == {}
        assert proxy.listeners("default/ext") == {}


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _true(value: bool) -> bool:
    return value
