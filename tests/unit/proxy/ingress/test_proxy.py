"""IngressProxy against a real API server: Services, Endpoints, Ingresses and Secrets written
by the test, real aiohttp backends on unusual loopback addresses, real HTTP(S) through the
proxy's listeners."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from yarl import URL

from gitkube.client import Client
from gitkube.proxy.ingress.tls import FAKE_CERTIFICATE_CN
from gitkube.testing import running_apiserver

from ..backends import eventually, unusual_subnet
from .kit import (
    GATE,
    NS,
    ingress,
    parse,
    path,
    put_endpoints,
    running_backend,
    running_ingress,
    self_signed,
    service,
    tls_secret,
)


async def get(port: int, host: str, url_path: str, **kwargs: Any) -> tuple[int, bytes, Any]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        method = kwargs.pop("method", "GET")
        async with s.request(method, URL(f"http://127.0.0.1:{port}{url_path}", encoded=True), headers={"Host": host, **kwargs.pop("headers", {})},
                             **kwargs) as r:
            return r.status, await r.read(), r.headers


async def events_for(client: Client, name: str) -> list[dict[str, Any]]:
    items = (await client.list("events", NS))["items"]
    return [e for e in items if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "Ingress"]


async def test_routes_by_host_and_path_balances_and_reports(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("a1", f"{net}.11") as (a1, _), running_backend("a2", f"{net}.12") as (a2, _), \
            running_backend("b1", f"{net}.13") as (b1, _), running_ingress(client) as proxy:
        for name in ("svc-a", "svc-b"):
            await client.create("services", service(name), NS)
        await put_endpoints(client, "svc-a", [a1, a2])
        await put_endpoints(client, "svc-b", [b1])
        await client.create("ingresses", ingress("web", {
            "a.example.com": [path("/", "svc-a")],
            "b.example.com": [path("/api", "svc-b"), path("/exact", "svc-a", "Exact", "http")],
            "c.example.com": [path("/", "missing")],
        }), NS)
        port = proxy.port

        async def routed() -> bool:
            status, _, _ = await get(port, "a.example.com", "/")
            return status == 200
        await eventually(routed, what="a.example.com routed")

        names = [parse((await get(port, "a.example.com", f"/x?n={i}"))[1])["name"] for i in range(4)]
        assert sorted(names) == ["a1", "a1", "a2", "a2"] and names[0] != names[1]
        status, body, headers = await get(port, "B.Example.com:80", "/api/v1/items?q=%2F&x=1",
                                          headers={"X-Forwarded-For": "10.0.0.1", "User-Agent": "probe/1"})
        seen = parse(body)
        assert status == 200 and seen["name"] == "b1" and seen["path"] == "/api/v1/items?q=%2F&x=1"
        assert seen["headers"]["Host"] == "B.Example.com:80"
        assert seen["headers"]["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"
        assert seen["headers"]["X-Forwarded-Proto"] == "http"
        assert seen["headers"]["X-Forwarded-Host"] == "B.Example.com:80"
        assert seen["headers"]["X-Forwarded-Port"] == str(port)
        assert seen["headers"]["User-Agent"] == "probe/1"
        assert headers["X-Backend"] == "b1" and headers["Set-Cookie"] == "a=1"
        assert (await get(port, "b.example.com", "/apiary"))[0] == 404  # element-wise prefix
        assert (await get(port, "b.example.com", "/exact"))[0] == 200
        assert (await get(port, "b.example.com", "/exact/"))[0] == 404
        assert (await get(port, "nobody.example.com", "/"))[0] == 404
        status, body, _ = await get(port, "c.example.com", "/")
        assert status == 503 and b"missing" in body

        # The missing Service is a Warning Event on the Ingress; its status points at the listener.
        async def reported() -> bool:
            return any(e["reason"] == "ServiceNotFound" and "default/missing" in e["message"]
                       for e in await events_for(client, "web"))
        await eventually(reported, what="ServiceNotFound event")

        async def status_written() -> bool:
            live = await client.get("ingresses", "web", NS)
            return bool(live.get("status", {}).get("loadBalancer", {}).get("ingress") == [{"ip": "127.0.0.1"}])
        await eventually(status_written, what="status.loadBalancer")

        # The Service appears: the route starts working without touching the Ingress.
        await client.create("services", service("missing"), NS)
        await put_endpoints(client, "missing", [b1])

        async def healed() -> bool:
            return (await get(port, "c.example.com", "/"))[0] == 200
        await eventually(healed, what="missing service served")

        # No ready endpoints: 503.
        await put_endpoints(client, "svc-a", [])

        async def unavailable() -> bool:
            return (await get(port, "a.example.com", "/"))[0] == 503
        await eventually(unavailable, what="503 without endpoints")

        # A default backend catches what no rule matches; an Ingress of another class is ignored.
        await client.create("ingresses", {**ingress("fallback", {}), "spec": {
            "defaultBackend": {"service": {"name": "svc-b", "port": {"name": "http"}}}}}, NS)
        await client.create("ingresses", {**ingress("other", {"o.example.com": [path("/", "svc-b")]}),
                                          "spec": {**ingress("o", {"o.example.com": [path("/", "svc-b")]})["spec"],
                                                   "ingressClassName": "nginx"}}, NS)

        async def fallback() -> bool:
            status, body, _ = await get(port, "nobody.example.com", "/anything")
            return status == 200 and parse(body)["name"] == "b1"
        await eventually(fallback, what="default backend")
        assert parse((await get(port, "o.example.com", "/"))[1])["name"] == "b1"  # via the default backend
        other = await client.get("ingresses", "other", NS)
        assert not other.get("status", {}).get("loadBalancer", {}).get("ingress")


async def test_streams_bodies_both_ways_and_relays_websockets(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("s1", f"{net}.21") as (s1, app), running_ingress(client) as proxy:
        await client.create("services", service("svc"), NS)
        await put_endpoints(client, "svc", [s1])
        await client.create("ingresses", ingress("web", {"": [path("/", "svc")]}), NS)
        port = proxy.port

        async def routed() -> bool:
            return (await get(port, "x", "/"))[0] == 200
        await eventually(routed, what="routed")

        # A 8 MiB chunked upload arrives whole and unchanged.
        blob = os.urandom(8 * 1024 * 1024)

        async def chunks() -> Any:
            for i in range(0, len(blob), 100_000):
                yield blob[i:i + 100_000]
        status, body, _ = await get(port, "x", "/upload", method="POST", data=chunks())
        assert status == 200 and parse(body)["size"] == len(blob)
        assert parse(body)["sha256"] == hashlib.sha256(blob).hexdigest()
        status, body, _ = await get(port, "x", "/upload", method="PUT", data=b"12345")
        assert parse(body)["size"] == 5 and parse(body)["method"] == "PUT"

        # The response streams: each part arrives before the backend writes the next.
        async with aiohttp.ClientSession() as s, \
                s.get(f"http://127.0.0.1:{port}/stream", headers={"Host": "x"}) as r:
            for i in range(3):
                line = await asyncio.wait_for(r.content.readline(), 5)
                assert line == f"part{i}\n".encode()
                app[GATE].set()
            assert await asyncio.wait_for(r.content.read(), 5) == b""

        # Websockets, with the subprotocol negotiated by the backend.
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(f"http://127.0.0.1:{port}/ws", headers={"Host": "x"}, protocols=("chat",)) as ws:
            assert ws.protocol == "chat"
            await ws.send_str("hello")
            assert (await asyncio.wait_for(ws.receive(), 5)).data == "s1:hello"
            await ws.send_bytes(b"abc")
            assert (await asyncio.wait_for(ws.receive(), 5)).data == b"cba"

        # A backend that refuses connections: 502.
        await put_endpoints(client, "svc", [type(s1)("gone", f"{net}.99", 9)])

        async def bad_gateway() -> bool:
            return (await get(port, "x", "/"))[0] == 502
        await eventually(bad_gateway, what="502")


async def test_head_expect_continue_and_a_backend_breaking_off(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("h1", f"{net}.41") as (h1, _), running_ingress(client) as proxy:
        await client.create("services", service("svc"), NS)
        await put_endpoints(client, "svc", [h1])
        await client.create("ingresses", ingress("web", {"h": [path("/", "svc")]}), NS)
        port = proxy.port

        async def routed() -> bool:
            return (await get(port, "h", "/"))[0] == 200
        await eventually(routed, what="routed")

        status, body, headers = await get(port, "h", "/x", method="HEAD")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0

        # Expect: 100-continue is answered before the body is sent (raw HTTP/1.1).
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
        assert await asyncio.wait_for(reader.readline(), 5) == b"\r\n"
        writer.write(b"hello")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        writer.close()

        # An absolute-form request target (the proxy used as an HTTP proxy) reaches the backend relative.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET http://h/abs?q=%2F HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert response.startswith(b"HTTP/1.1 200") and b'"path": "/abs?q=%2F"' in response

        # A response cut short upstream is cut short for the client too (never a clean end).
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/broken", headers={"Host": "h"}) as r:
                assert r.status == 200
                try:
                    data = await asyncio.wait_for(r.read(), 5)
                except aiohttp.ClientPayloadError:
                    data = None
                assert data is None, data


def handshake(port: int, server_name: str | None, cafile: Path | None = None) -> tuple[dict[str, Any], bytes]:
    ctx = ssl.create_default_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
    if cafile is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name or 'x'}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        der = tls.getpeercert(binary_form=True)
        info = tls.getpeercert() if cafile else {}
    assert der is not None
    return {"der": der, "info": info}, data


async def test_tls_by_sni_reloads_on_secret_change(tmp_path: Path) -> None:
    net = unusual_subnet()
    async with running_apiserver(tmp_path / "d") as (_server, client), \
            running_backend("t1", f"{net}.31") as (t1, _), \
            running_ingress(client, tls_listen=("127.0.0.1", 0)) as proxy:
        await client.create("services", service("svc"), NS)
        await put_endpoints(client, "svc", [t1])
        first = self_signed("a.example.com")
        await client.create("secrets", tls_secret("a-tls", first), NS)
        await client.create("ingresses", ingress("web", {"a.example.com": [path("/", "svc")],
                                                         "b.example.com": [path("/", "svc")]},
                                                 tls=[{"hosts": ["a.example.com"], "secretName": "a-tls"},
                                                      {"hosts": ["b.example.com"], "secretName": "no-such"}]), NS)
        ca = tmp_path / "a.pem"
        ca.write_bytes(first[0])
        port = proxy.tls_port
        loop = asyncio.get_running_loop()

        async def verified() -> bool:
            try:
                _, data = await loop.run_in_executor(None, handshake, port, "a.example.com", ca)
            except ssl.SSLError:
                return False
            return data.startswith(b"HTTP/1.1 200") and b'"X-Forwarded-Proto": "https"' in data
        await eventually(verified, what="a.example.com served with its certificate")

        # No SNI, or a host without a usable Secret: the fake certificate.
        for name in (None, "b.example.com"):
            peer, _ = await loop.run_in_executor(None, handshake, port, name, None)
            cn = x509.load_der_x509_certificate(peer["der"]).subject.rfc4514_string()
            assert FAKE_CERTIFICATE_CN in cn

        async def secret_reported() -> bool:
            return any(e["reason"] == "SecretNotFound" for e in await events_for(client, "web"))
        await eventually(secret_reported, what="SecretNotFound event")

        # A new certificate in the Secret is served on the next handshake.
        second = self_signed("a.example.com")
        live = await client.get("secrets", "a-tls", NS)
        live["data"] = tls_secret("a-tls", second)["data"]
        await client.update("secrets", live)
        want = x509.load_pem_x509_certificate(second[0]).public_bytes(serialization.Encoding.DER)

        async def reloaded() -> bool:
            peer, _ = await loop.run_in_executor(None, handshake, port, "a.example.com", None)
            return bool(peer["der"] == want)
        await eventually(reloaded, what="certificate reloaded")

