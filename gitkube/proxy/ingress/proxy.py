"""The Ingress proxy component: networking.k8s.io/v1 Ingresses served by an aiohttp reverse proxy.

``IngressProxy`` watches Ingresses, Services and Endpoints (and Secrets when it serves
TLS) through informers; every change enqueues one key, so bursts coalesce into one
``sync``, which rebuilds from the caches:

- the route table of the Ingresses gitkube serves (``ingressClassName: gitkube`` or none;
  the IngressClass kind is not served, so none is created) - :mod:`.routing`;
- one balancer per backend Service port over its ready endpoints, which requests reach
  directly on the pod IPs - :mod:`.backends`;
- the SNI certificate table from each Ingress's ``spec.tls`` (hosts -> ``secretName`` in the
  Ingress's namespace; the oldest Ingress wins a host claimed twice; a host listed without
  hosts means every rule host of that Ingress) - :mod:`.tls`;
- ``status.loadBalancer.ingress`` of each served Ingress: the listen IP (or host name);
- Warning Events on an Ingress whose backend Service or port is missing, or whose TLS
  Secret is missing or unusable, once per problem (again if it comes back after being
  fixed). Such an Ingress still serves its other rules; its broken backend answers 503.

:meth:`start` binds the listeners (plain, and TLS when ``tls_listen`` is given) and raises
:class:`~gitkube.errors.ConfigError` when it cannot; :meth:`run` serves until cancelled.
Requests arriving before the caches synced get 503. Started by the composition root
(``gitkube up --ingress-listen``); talks only through ``gitkube.client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.client import Client, EventRecorder, Handler, Informer, WorkQueue, key_of, run_workers
from gitkube.proxy.ingress.backends import BackendPool
from gitkube.proxy.ingress.forward import Forwarder, Target
from gitkube.proxy.ingress.routing import INGRESS_CLASS, RouteTable, build_table, ingress_backends, serves
from gitkube.proxy.ingress.tls import CertificateError, CertificateStore, PemPair, pem_pair

__all__ = ["IngressProxy"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Address = tuple[str, int]
_KEY = "ingresses"


def _bind(address: Address) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _status_entry(host: str) -> dict[str, str]:
    if host in ("", "0.0.0.0", "::"):
        return {"ip": "127.0.0.1"}
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return {"hostname": host}
    return {"ip": host}


class IngressProxy:
    """Serves the Ingresses of class ``gitkube`` (or none) on ``listen`` and, with TLS, ``tls_listen``."""

    component = "gitkube-ingress"

    def __init__(self, client: Client, *, listen: Address, tls_listen: Address | None = None,
                 ingress_class: str = INGRESS_CLASS, status_address: str | None = None,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0, retry_delay: float = 1.0) -> None:
        self.client = client
        self.listen = listen
        self.tls_listen = tls_listen
        self.ingress_class = ingress_class
        self.status_entry = _status_entry(status_address if status_address is not None else listen[0])
        self.retry_delay = retry_delay
        self.ingresses = Informer(client, "ingresses")
        self.services = Informer(client, "services")
        self.endpoints = Informer(client, "endpoints")
        self.secrets: Informer | None = Informer(client, "secrets") if tls_listen is not None else None
        self.queue: WorkQueue[str] = WorkQueue()
        self.events = EventRecorder(client, self.component)
        self.synced = asyncio.Event()
        self.table = RouteTable()
        self.pool = BackendPool()
        self.certificates: CertificateStore | None = CertificateStore() if tls_listen is not None else None
        self.forwarder = Forwarder(self.lookup, connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._reported: dict[str, set[tuple[str, str]]] = {}
        self._runner: web.ServerRunner | None = None
        self._sockets: list[socket.socket] = []
        self.port = listen[1]
        self.tls_port = tls_listen[1] if tls_listen else 0
        enqueue = Handler(on_add=self._enqueue, on_update=lambda _old, _new: self._enqueue(_new),
                          on_delete=self._enqueue)
        for informer in self._informers():
            informer.add_handler(enqueue)

    def _informers(self) -> list[Informer]:
        return [self.ingresses, self.services, self.endpoints, *([self.secrets] if self.secrets is not None else [])]

    def _enqueue(self, _obj: Obj) -> None:
        self.queue.add(_KEY)

    # -- listeners ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listeners and start answering (503 until the first sync); ConfigError if a bind fails."""
        if self._runner is not None:
            return
        addresses = [(self.listen, "--ingress-listen")]
        if self.tls_listen is not None:
            addresses.append((self.tls_listen, "--ingress-tls-listen"))
        for address, flag in addresses:
            try:
                self._sockets.append(_bind(address))
            except OSError as exc:
                for sock in self._sockets:
                    sock.close()
                self._sockets.clear()
                raise errors.ConfigError(f"{flag}: cannot listen on {address[0]}:{address[1]}: "
                                         f"{exc.strerror or exc}") from None
        await self.forwarder.start()
        # Access log lines (INFO, aiohttp's format) under gitkube.proxy.ingress.access.
        server = web.Server(self.forwarder.handle, access_log=logging.getLogger(f"{__name__}.access"))
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        plain = self._sockets[0]
        self.port = int(plain.getsockname()[1])
        await web.SockSite(self._runner, plain).start()
        if self.certificates is not None:
            secure = self._sockets[1]
            self.tls_port = int(secure.getsockname()[1])
            await web.SockSite(self._runner, secure, ssl_context=self.certificates.server_context).start()
        log.info("ingress proxy: listening on %s:%d%s", self.listen[0], self.port,
                 f" and TLS on {self.tls_listen[0]}:{self.tls_port}" if self.tls_listen else "")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.forwarder.close()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    # -- loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Bind (if not yet), watch, route until cancelled; then close the listeners."""
        await self.start()
        tasks = [asyncio.create_task(inf.run(), name=f"ingress-informer-{inf.resource}")
                 for inf in self._informers()]
        try:
            await asyncio.gather(*(inf.synced.wait() for inf in self._informers()))
            await self.sync(_KEY)
            self.synced.set()
            log.info("ingress proxy: caches synced, %d ingresses", len(self.ingresses))
            await run_workers(self.queue, self.sync, workers=1, name="ingress-proxy")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await self.stop()
            await self.events.flush()

    def lookup(self, host: str, path: str) -> Target:
        """Where a request for ``host`` (normalized) and ``path`` goes (the forwarder's callback)."""
        if not self.synced.is_set():
            return Target(status=503, message="Service Unavailable: the ingress proxy is starting")
        route = self.table.match(host, path)
        if route is None:
            return Target(status=404, message="Not Found")
        if route.backend is None:
            return Target(status=503, message="Service Unavailable: resource backends are not supported")
        balancer = self.pool.balancer(route.backend)
        if balancer is None:
            return Target(status=503, message=f"Service Unavailable: {self.pool.problem(route.backend) or 'no backend'}")
        return Target(balancer=balancer,
                      message=f"Service Unavailable: no ready endpoints for service {route.backend}")

    async def sync(self, key: str) -> None:
        """Rebuild routes, balancers and certificates from the caches; report problems; write statuses."""
        served = [i for i in self.ingresses.list() if serves(i, self.ingress_class)]
        problems: dict[str, set[tuple[str, str]]] = {key_of(i): set() for i in served}
        refs = {key_of(i): ingress_backends(i) for i in served}
        unservable = self.pool.update([r for rs in refs.values() for r in rs],
                                      self.services.get_key, self.endpoints.get_key)
        for ingress_key, ingress_refs in refs.items():
            for ref in ingress_refs:
                if ref in unservable:
                    problems[ingress_key].add((unservable[ref].reason, unservable[ref].problem))
        if self.certificates is not None:
            self._sync_certificates(served, problems)
        self.table = build_table(served)
        self._report(served, problems)
        if not await self._write_statuses(served):
            self.queue.add_after(_KEY, self.retry_delay)

    # -- helpers --------------------------------------------------------------------------

    def _sync_certificates(self, served: list[Obj], problems: dict[str, set[tuple[str, str]]]) -> None:
        assert self.certificates is not None and self.secrets is not None
        hosts: dict[str, PemPair] = {}
        for ingress in sorted(served, key=lambda i: (str(i["metadata"].get("creationTimestamp") or ""), key_of(i))):
            namespace = ingress["metadata"].get("namespace") or "default"
            spec = ingress.get("spec") or {}
            rule_hosts = [str(r.get("host")) for r in spec.get("rules") or [] if r.get("host")]
            for tls in spec.get("tls") or []:
                secret_name = tls.get("secretName")
                if not secret_name:
                    continue  # the default (fake) certificate, as ingress-nginx does
                secret = self.secrets.get(namespace, str(secret_name))
                if secret is None:
                    problems[key_of(ingress)].add(("SecretNotFound", f'secret "{namespace}/{secret_name}" not found'))
                    continue
                try:
                    pair = pem_pair(secret)
                    self.certificates.load(pair)
                except CertificateError as exc:
                    problems[key_of(ingress)].add(("InvalidCertificate",
                                                   f'secret "{namespace}/{secret_name}": {exc}'))
                    continue
                for host in tls.get("hosts") or rule_hosts:
                    hosts.setdefault(str(host).lower(), pair)
        self.certificates.update(hosts)

    def _report(self, served: list[Obj], problems: Mapping[str, set[tuple[str, str]]]) -> None:
        by_key = {key_of(i): i for i in served}
        for ingress_key, found in problems.items():
            before = self._reported.get(ingress_key, set())
            for reason, message in sorted(found - before):
                log.warning("ingress proxy: %s: %s", ingress_key, message)
                ingress = by_key[ingress_key]
                self.events.record({**ingress, "apiVersion": "networking.k8s.io/v1", "kind": "Ingress"},
                                   "Warning", reason, message)
            self._reported[ingress_key] = set(found)
        for gone in [k for k in self._reported if k not in problems]:
            del self._reported[gone]

    async def _write_statuses(self, served: list[Obj]) -> bool:
        """Point ``status.loadBalancer`` of every served Ingress at the listener; False if a write failed."""
        desired = [self.status_entry]
        ok = True
        served_keys = {key_of(i) for i in served}
        for ingress in self.ingresses.list():
            current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if key_of(ingress) in served_keys:
                if current == desired:
                    continue
                target: list[dict[str, str]] | None = desired
            elif current == desired:
                target = None  # no longer ours (class changed): take our address back
            else:
                continue
            m = ingress["metadata"]
            patch = {"status": {"loadBalancer": {"ingress": target}}}
            try:
                await self.client.patch("ingresses", m["name"], patch, m.get("namespace"), subresource="status")
            except errors.NotFound:
                continue
            except errors.APIError as exc:
                log.info("ingress proxy: status of %s not written: %s", key_of(ingress), exc)
                ok = False
        return ok
