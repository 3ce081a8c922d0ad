"""The service proxy component (kube-proxy's role, in user space on loopback addresses).

``ServiceProxy`` watches Services and Endpoints through two informers; their handlers
only enqueue the ``namespace/name`` key (a Service and its Endpoints share it). ``sync``
reconciles that one Service, level-triggered, from the caches:

- every TCP port of a Service with a cluster IP gets a :class:`~gitkube.proxy.listener.Listener`
  on ``clusterIP:port``; NodePort and LoadBalancer Services also get one on
  ``node_address:nodePort`` (a port without a ``nodePort`` is skipped with a log line);
  headless (``clusterIP: None``) and ExternalName Services get none;
- each service port has one :class:`~gitkube.proxy.balancer.Balancer` (shared by its
  cluster-IP and node-port listeners) whose ready set is replaced in place from the
  Endpoints of the same name, so established connections are never cut;
- a listener no longer wanted (Service deleted, port removed) stops accepting; its
  connections finish on their own;
- a listener that cannot bind is reported as a Warning Event ``FailedToStartServiceListener``
  on the Service and retried with backoff; UDP and SCTP ports are reported as not supported.

Started by the composition root (``gitkube up``) with ``run()``, which runs until cancelled.
Talks only through ``gitkube.client`` (layering rule R2).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from typing import Any

from gitkube.client import Client, EventRecorder, Handler, Informer, WorkQueue, key_of, run_workers
from gitkube.proxy.balancer import Balancer, affinity_timeout, backends_for_port
from gitkube.proxy.listener import Listener

__all__ = ["ServiceProxy"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Address = tuple[str, int]


@dataclasses.dataclass
class _ServiceState:
    """What the proxy runs for one Service."""

    balancers: dict[str, Balancer] = dataclasses.field(default_factory=dict)
    listeners: dict[Address, Listener] = dataclasses.field(default_factory=dict)
    bind_failures: int = 0


def _bind_error(host: str, port: int, exc: OSError) -> str:
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return f"listen tcp {host}:{port}: bind: {reason}"


class ServiceProxy:
    """Forwards every Service's cluster IP (and node) ports to its ready endpoints."""

    component = "kube-proxy"

    def __init__(self, client: Client, *, node_address: str = "127.0.0.1", node_name: str = "",
                 connect_timeout: float = 2.0, retry_base: float = 0.5, retry_cap: float = 30.0,
                 informers: dict[str, Informer] | None = None) -> None:
        self.client = client
        self.node_address = node_address
        self.connect_timeout = connect_timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        shared = informers if informers is not None else {}
        self.services = shared.get("services") or Informer(client, "services")
        self.endpoints = shared.get("endpoints") or Informer(client, "endpoints")
        self.queue: WorkQueue[str] = WorkQueue()
        self.events = EventRecorder(client, self.component, node_name)
        self.synced = asyncio.Event()
        self._state: dict[str, _ServiceState] = {}
        self._reported: dict[str, set[str]] = {}  # per Service: the one-off warnings already given
        enqueue = Handler(on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
                          on_delete=self._enqueue)
        self.services.add_handler(enqueue)
        self.endpoints.add_handler(enqueue)

    def _enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    # -- introspection (tests, status) --------------------------------------------------

    def listeners(self, key: str) -> dict[Address, Listener]:
        """The listeners running for the Service ``namespace/name``."""
        state = self._state.get(key)
        return dict(state.listeners) if state else {}

    def balancer(self, key: str, port_name: str = "") -> Balancer | None:
        state = self._state.get(key)
        return state.balancers.get(port_name) if state else None

    # -- loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch, reconcile and forward until cancelled; then drop every listener."""
        tasks = [asyncio.create_task(inf.run(), name=f"proxy-informer-{inf.resource}")
                 for inf in (self.services, self.endpoints)]
        try:
            await asyncio.gather(self.services.synced.wait(), self.endpoints.synced.wait())
            self.synced.set()
            log.info("service proxy: caches synced, %d services", len(self.services))
            await run_workers(self.queue, self.sync, workers=1, name="service-proxy")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for state in self._state.values():
                for listener in state.listeners.values():
                    listener.abort()
            self._state.clear()

    async def sync(self, key: str) -> None:
        """Make the listeners and balancers of Service ``key`` match its spec and Endpoints."""
        service = self.services.get_key(key)
        if service is None:
            self._reported.pop(key, None)
        desired = self._desired_listeners(key, service) if service is not None else {}
        state = self._state.get(key)
        if not desired:
            if state is not None:
                for address, listener in state.listeners.items():
                    log.info("service proxy: %s: stopped listening on %s:%d", key, *address)
                    listener.close()
                del self._state[key]
            return
        assert service is not None
        state = self._state.setdefault(key, _ServiceState())
        self._update_balancers(key, service, state)
        for address in [a for a in state.listeners if a not in desired]:
            log.info("service proxy: %s: stopped listening on %s:%d", key, *address)
            state.listeners.pop(address).close()
        failures: list[str] = []
        for address, port_name in desired.items():
            balancer = state.balancers[port_name]
            running = state.listeners.get(address)
            if running is not None:
                running.balancer = balancer
                continue
            listener = Listener(address[0], address[1], balancer, name=f"{key}:{port_name or address[1]}",
                                connect_timeout=self.connect_timeout)
            try:
                await listener.start()
            except OSError as exc:
                failures.append(_bind_error(address[0], address[1], exc))
                continue
            state.listeners[address] = listener
            log.info("service proxy: %s: listening on %s:%d", key, *address)
        if failures:
            delay = min(self.retry_base * 2 ** state.bind_failures, self.retry_cap)
            state.bind_failures += 1
            for message in failures:
                log.warning("service proxy: %s: %s (retrying in %.1fs)", key, message, delay)
                self._warn(service, "FailedToStartServiceListener", f"Failed to start listener: {message}")
            self.queue.add_after(key, delay)
        else:
            state.bind_failures = 0

    # -- helpers ------------------------------------------------------------------------

    def _desired_listeners(self, key: str, service: Obj) -> dict[Address, str]:
        """``(host, port) -> service port name`` of every listener ``service`` needs."""
        spec = service.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        cluster_ip = spec.get("clusterIP") or ""
        if kind == "ExternalName" or cluster_ip in ("", "None"):
            return {}
        out: dict[Address, str] = {}
        for port in spec.get("ports") or []:
            name = str(port.get("name") or "")
            number = port.get("port")
            protocol = port.get("protocol") or "TCP"
            if not isinstance(number, int):
                continue
            if protocol != "TCP":
                self._warn_once(key, service, "UnsupportedProtocol",
                                f"The service proxy forwards TCP only; port {number}/{protocol} is not proxied")
                continue
            out[(cluster_ip, number)] = name
            if kind in ("NodePort", "LoadBalancer"):
                node_port = port.get("nodePort")
                if isinstance(node_port, int) and node_port > 0:
                    out[(self.node_address, node_port)] = name
                else:
                    log.info("service proxy: %s: port %d has no nodePort; not listening on the node", key, number)
        return out

    def _update_balancers(self, key: str, service: Obj, state: _ServiceState) -> None:
        ports = [p for p in (service.get("spec") or {}).get("ports") or []
                 if (p.get("protocol") or "TCP") == "TCP" and isinstance(p.get("port"), int)]
        endpoints = self.endpoints.get_key(key)
        affinity = affinity_timeout(service)
        names = {str(p.get("name") or "") for p in ports}
        for name in names:
            backends = backends_for_port(endpoints, name, only_port=len(ports) == 1)
            balancer = state.balancers.get(name)
            if balancer is None:
                state.balancers[name] = Balancer(backends, affinity=affinity)
                continue
            balancer.set_affinity(affinity)
            if tuple(backends) != balancer.backends:
                log.info("service proxy: %s: port %r endpoints %s", key, name, [str(b) for b in backends])
            balancer.update(backends)
        for name in [n for n in state.balancers if n not in names]:
            del state.balancers[name]

    def _warn(self, service: Obj, reason: str, message: str) -> None:
        self.events.record({**service, "apiVersion": "v1", "kind": "Service"}, "Warning", reason, message)

    def _warn_once(self, key: str, service: Obj, reason: str, message: str) -> None:
        reported = self._reported.setdefault(key, set())
        if message not in reported:
            reported.add(message)
            log.warning("service proxy: %s: %s", key, message)
            self._warn(service, reason, message)
