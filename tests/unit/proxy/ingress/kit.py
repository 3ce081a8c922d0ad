"""Helpers of the Ingress proxy tests: aiohttp backends on unusual loopback addresses, a
running proxy, self-signed certificates, objects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gitkube.client import Client
from gitkube.proxy.ingress import IngressProxy

NS = "default"
GATE = web.AppKey("gate", asyncio.Event)


@dataclass
class Backend:
    name: str
    host: str
    port: int = 0


def _app(name: str) -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(protocols=("chat",))
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(f"{name}:{msg.data}")
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data[::-1])
            return ws
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        body = {"name": name, "path": request.raw_path, "method": request.method, "headers": dict(request.headers),
                "size": size, "sha256": digest.hexdigest()}
        return web.json_response(body, headers={"Set-Cookie": "a=1", "X-Backend": name})

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(3):
            await resp.write(f"part{i}\n".encode())
            await request.app[GATE].wait()  # the test lets the next part go
            request.app[GATE].clear()
        return resp

    async def broken(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b"0123456789")
        assert request.transport is not None
        request.transport.close()  # 990 bytes short
        return resp

    app = web.Application()
    app.router.add_route("GET", "/broken", broken)
    app[GATE] = asyncio.Event()
    app.router.add_route("GET", "/stream", stream)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@contextlib.asynccontextmanager
async def running_backend(name: str, host: str) -> AsyncIterator[tuple[Backend, web.Application]]:
    app = _app(name)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield Backend(name, host, port), app
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_ingress(client: Client, **kwargs: Any) -> AsyncIterator[IngressProxy]:
    kwargs.setdefault("listen", ("127.0.0.1", 0))
    proxy = IngressProxy(client, **kwargs)
    await proxy.start()
    task = asyncio.create_task(proxy.run())
    try:
        await asyncio.wait_for(proxy.synced.wait(), 10)
        yield proxy
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def service(name: str, port: int = 80, port_name: str = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": port_name, "port": port, "targetPort": port_name}]}}


def endpoints(name: str, ready: list[Backend], port_name: str = "http") -> dict[str, Any]:
    subsets = [{"addresses": [{"ip": b.host}], "ports": [{"name": port_name, "port": b.port}]} for b in ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": subsets}


async def put_endpoints(client: Client, name: str, ready: list[Backend]) -> None:
    try:
        live = await client.get("endpoints", name, NS)
    except Exception:
        await client.create("endpoints", endpoints(name, ready), NS)
        return
    live["subsets"] = endpoints(name, ready)["subsets"]
    await client.update("endpoints", live)


def path(p: str, svc: str, path_type: str = "Prefix", port: int | str = 80) -> dict[str, Any]:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": p, "pathType": path_type, "backend": {"service": {"name": svc, "port": ref}}}


def ingress(name: str, rules: dict[str, list[dict[str, Any]]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"rules": [{**({"host": h} if h else {}), "http": {"paths": ps}} for h, ps in rules.items()],
                     **spec}}


def self_signed(*hosts: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def tls_secret(name: str, pair: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(pair[0]).decode(), "tls.key": base64.b64encode(pair[1]).decode()}}


def parse(body: bytes) -> dict[str, Any]:
    return dict(json.loads(body))
