"""The API server: an aiohttp application speaking the Kubernetes REST API over HTTPS.

``APIServer`` owns the store for its lifetime and serves:

- ``/version``, ``/healthz``, ``/livez``, ``/readyz`` (these four without a token, as
  kube-apiserver's public-info-viewer role allows);
- discovery (``/api``, ``/apis``, aggregated and legacy) and OpenAPI (``/openapi/v3``,
  the ``/openapi/v2`` protobuf stub);
- every resource path of ``gitkube.api.scheme`` through ``requestinfo`` → ``auth`` →
  ``handlers``;
- paths other parts of gitkube ``mount`` (the GitOps engine's ``/gitkube/v1``, ``/api/webhook``
  and the hosted repository at ``/git/repo.git``), which authenticate for themselves;
- ``/metrics`` (any valid token, as kube-apiserver wants one): the daemon's Prometheus metrics,
  ``gitkube.observability.metrics``; every request is timed and counted by the outer middleware.

Every error leaves as a ``v1.Status`` body. Background tasks: the garbage collector and
history compaction (every 5 minutes, keeping the newest ``history`` revisions, as
kube-apiserver compacts etcd). Built and started by ``gitkube.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gitkube import __version__, errors
from gitkube.api import scheme
from gitkube.apiserver import (
    admission_policy,
    auth,
    bootstrap,
    codec,
    discovery,
    gc,
    handlers,
    ipalloc,
    openapi,
    requestinfo,
    subresources,
)
from gitkube.apiserver import limits as limits_mod
from gitkube.apiserver import registry as reg
from gitkube.apiserver.pki import Credentials
from gitkube.observability import metrics as obs_metrics
from gitkube.store import base as store_base

MountHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["APIServer", "version_info"]

log = logging.getLogger(__name__)

KUBE_MINOR = "32"
# the parsed RequestInfo, kept on the request for the metrics middleware
_REQUEST_INFO = web.RequestKey("gitkube.requestinfo", requestinfo.RequestInfo)


def version_info() -> dict[str, str]:
    """``/version``: the Kubernetes API level, with gitkube's version in the semver suffix."""
    return {
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": f"v1.{KUBE_MINOR}.0-gitkube.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-26T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


class APIServer:
    def __init__(
        self,
        store: store_base.Store,
        creds: Credentials,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 6443,
        service_cidr: str = "127.96.0.0/16",
        history: int = 10000,
        compaction_interval: float = 300.0,
        metrics: obs_metrics.Metrics | None = None,
        limits: limits_mod.ClientLimits | None = None,
    ) -> None:
        self.store = store
        self.creds = creds
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.history = history
        self.compaction_interval = compaction_interval
        self.registry = reg.Registry(store, ipalloc.ClusterIPAllocator(service_cidr))
        self.gc = gc.GarbageCollector(self.registry, store)
        self.openapi = openapi.OpenAPIV3()
        self.authenticator = auth.TokenAuthenticator(creds.admin_token, creds.readonly_token)
        self.limiter = limits_mod.ClientLimiter(limits)  # per-client budgets on the TCP port
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = False
        self._discovery_cache: dict[tuple[bool, str], bytes] = {}
        self._mounts: list[tuple[str, MountHandler]] = []
        self._ready_checks: list[Callable[[], bool]] = []
        self.metrics = metrics if metrics is not None else obs_metrics.Metrics()
        self.metrics.set_pod_source(self._all_pods)

    async def _all_pods(self) -> list[dict[str, Any]]:
        """Every pod, read from the store at scrape time for ``gitkube_pods{phase}``."""
        pods = scheme.by_plural("", "pods")
        assert pods is not None
        return (await self.store.list(scheme.storage_prefix(pods))).items

    def mount(self, prefix: str, handler: MountHandler) -> None:
        """Serve paths under ``prefix`` with ``handler`` (the GitOps engine's endpoints and the hosted
        git repository). The handler authenticates requests itself; errors become Status bodies."""
        self._mounts.append((prefix, handler))
        self.metrics.add_path_prefix(prefix)

    def add_ready_check(self, check: Callable[[], bool]) -> None:
        """``/readyz`` answers 200 only when every check (one per component) passes."""
        self._ready_checks.append(check)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "api.sock"

    @property
    def socket_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.creds.server_cert), str(self.creds.server_key))
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._measure, self._middleware, self.limiter.middleware],
                              client_max_size=codec.MAX_BODY + 1)
        app[subresources.DATA_DIR] = self.data_dir
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self) -> None:
        await self.store.open()
        await self.registry.load_cluster_ips()
        self._runner = web.AppRunner(self.build_app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = limits_mod.LimitedTCPSite(self._runner, self.host, self.port, limiter=self.limiter,
                                         ssl_context=self.ssl_context(), backlog=1024, reuse_address=True)
        await site.start()
        # In-process components (controllers, scheduler, node agent, proxy) use a private
        # Unix socket: real HTTP, no TLS, guarded by the 0700 data dir and 0600 socket.
        self.socket_path.unlink(missing_ok=True)
        unix = web.UnixSite(self._runner, str(self.socket_path), backlog=1024)
        await unix.start()
        os.chmod(self.socket_path, 0o600)
        if self.port == 0:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        await bootstrap.ensure_defaults(self.registry, self.host, self.port)
        self._tasks.append(asyncio.create_task(self.gc.run(), name="gitkube-gc"))
        self._tasks.append(asyncio.create_task(self._compact_loop(), name="gitkube-compact"))
        await asyncio.wait_for(self.gc.synced.wait(), 30)
        self._ready = True

    async def stop(self) -> None:
        self._ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.store.close()

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self.compaction_interval)
            try:
                current = await self.store.current_revision()
                target = current - self.history
                if target > await self.store.compacted_revision():
                    await self.store.compact(target)
            except errors.GitkubeError as exc:
                log.warning("history compaction failed: %s", exc)

    # -- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _measure(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Time and count every request (``apiserver_request_*``); outside the error middleware."""
        started = time.perf_counter()
        code = 500
        try:
            response: web.StreamResponse = await handler(request)
            code = response.status
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            ri = request.get(_REQUEST_INFO)
            code = 200 if ri is not None and ri.verb == "watch" else 499  # the client went away
            raise
        finally:
            self.metrics.observe_request(request.method, request.path, request.get(_REQUEST_INFO), code,
                                         time.perf_counter() - started)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except errors.APIError as exc:
            return codec.status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            return codec.status_response(errors.RequestTooLarge(
                f"the request body is more than the limit of {codec.MAX_BODY} bytes"))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except errors.GitkubeError as exc:
            log.exception("request failed: %s %s", request.method, request.path)
            return codec.status_response(errors.InternalError(str(exc)))
        except Exception:
            log.exception("request failed: %s %s", request.method, request.path)
            return codec.status_response(errors.InternalError("an internal error occurred; see the server log"))

    def _discovery(self, core: bool, version: str) -> web.Response:
        key = (core, version)
        body = self._discovery_cache.get(key)
        if body is None:
            import json

            body = json.dumps(discovery.aggregated(core, version), separators=(",", ":")).encode()
            self._discovery_cache[key] = body
        return web.Response(body=body, headers={"Content-Type": discovery.content_type(version)})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez"):
            return web.Response(text="ok")
        if path == "/readyz":
            if self._ready and all(check() for check in self._ready_checks):
                return web.Response(text="ok")
            return web.Response(text="[-]gitkube not ready\nreadyz check failed", status=503)
        if path == "/version":
            return codec.json_response(version_info())
        if path == "/metrics" and request.method == "GET":
            self.authenticator.authenticate(request.headers.get("Authorization"))
            body, content_type = await self.metrics.exposition(request.headers.get("Accept", ""))
            return web.Response(body=body, headers={"Content-Type": content_type})
        for prefix, mounted in self._mounts:
            if path == prefix.rstrip("/") or request.path.startswith(prefix):
                return await mounted(request)
        user = self.authenticator.authenticate(request.headers.get("Authorization"))
        parts = [p for p in path.split("/") if p]
        if request.method == "GET" and self._is_discovery(parts):
            return self._serve_discovery(request, parts)
        if parts and parts[0] == "openapi" and request.method == "GET":
            return self._serve_openapi(parts)
        if parts and parts[0] in ("api", "apis"):
            ri = requestinfo.parse(request.method, path, request.query)
            request[_REQUEST_INFO] = ri
            auth.authorize(user, ri)
            admission_policy.REQUEST_USER.set(user.name)
            return await handlers.handle(request, ri, self.registry)
        raise errors.NotFound("the server could not find the requested resource")

    @staticmethod
    def _is_discovery(parts: list[str]) -> bool:
        if parts == ["api"] or parts == ["apis"] or parts == ["api", "v1"]:
            return True
        return len(parts) in (2, 3) and parts[0] == "apis"

    def _serve_discovery(self, request: web.Request, parts: list[str]) -> web.Response:
        agg = discovery.negotiate(request.headers.get("Accept", ""))
        if parts == ["api"]:
            if agg:
                return self._discovery(True, agg)
            return codec.json_response(discovery.api_versions(f"{self.host}:{self.port}"))
        if parts == ["apis"]:
            if agg:
                return self._discovery(False, agg)
            return codec.json_response(discovery.api_group_list())
        if parts == ["api", "v1"]:
            doc = discovery.api_resource_list("", "v1")
        elif len(parts) == 2:
            doc = discovery.api_group(parts[1])
        else:
            doc = discovery.api_resource_list(parts[1], parts[2])
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        return codec.json_response(doc)

    def _serve_openapi(self, parts: list[str]) -> web.Response:
        if parts == ["openapi", "v2"]:
            return web.Response(body=openapi.V2_PROTO_STUB, headers={"Content-Type": openapi.V2_CONTENT_TYPE})
        if parts == ["openapi", "v3"]:
            return codec.json_response(self.openapi.index())
        if len(parts) > 2 and parts[:2] == ["openapi", "v3"]:
            found = self.openapi.document("/".join(parts[2:]))
            if found is not None:
                body, _digest = found
                return web.Response(body=body, headers={
                    "Content-Type": "application/json",
                    "Cache-Control": "public, immutable",
                })
        raise errors.NotFound("the server could not find the requested resource")
