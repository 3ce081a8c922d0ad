"""Composition root: builds the control plane from the command-line settings and runs it.

``ControlPlane`` wires credentials (``apiserver.pki``), the store (``store.open_store``), the
API server, then the components that talk to it through their own clients over the
daemon's Unix socket: the controller manager, the scheduler, the local node agent and the
service proxy. It writes the kubeconfigs once the API answers and stops everything in
reverse order (pods first, gracefully). ``run_up`` is ``gitkube up``; ``run_node`` is
``gitkube node run``, an extra node agent joining over HTTPS.

Nothing else in gitkube imports this module (layering rule R7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from gitkube import errors, leader
from gitkube.agent import NodeAgent
from gitkube.agent.runtime import detect_runtime
from gitkube.apiserver import pki
from gitkube.apiserver.encryption import EncryptedStore, ensure_key
from gitkube.apiserver.limits import ClientLimits
from gitkube.apiserver.server import APIServer
from gitkube.client import Client, HTTPTransport, from_kubeconfig
from gitkube.client.leaderelection import ElectionConfig, LeaderElector
from gitkube.controllers.manager import ControllerManager
from gitkube.engine.daemon import Engine, EngineSettings
from gitkube.engine.hooks import write_engine_config
from gitkube.engine.http import EngineHTTP
from gitkube.engine.notify import SyncReporter
from gitkube.engine.source import Source, open_source
from gitkube.leader import Leadership, Loop
from gitkube.manifests import ParseCache, agekey, sops
from gitkube.manifests.agekey import ensure_identity
from gitkube.observability import logs, webhook
from gitkube.proxy import ServiceProxy
from gitkube.proxy.ingress import IngressProxy
from gitkube.scheduler import Scheduler
from gitkube.store import open_store
from gitkube.ui import Dashboard
from gitkube.util.datadir import default_data_dir

__all__ = ["ControlPlane", "NodeSettings", "Settings", "default_data_dir", "parse_listen", "run_node", "run_up"]

log = logging.getLogger("gitkube")


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise errors.ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:6443")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise errors.ConfigError(f"--listen {text!r}: the port must be a number") from None
    if not 0 <= number <= 65535:
        raise errors.ConfigError(f"--listen {text!r}: the port must be between 0 and 65535")
    return host, number


def _flag_address(text: str, flag: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except errors.ConfigError as exc:
        raise errors.ConfigError(str(exc).replace("--listen", flag, 1)) from None


def parse_capacity(text: str) -> dict[str, str]:
    """``cpu=2,memory=4Gi`` → ``{"cpu": "2", "memory": "4Gi"}``."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise errors.ConfigError(f"--capacity {text!r}: expected NAME=QUANTITY[,NAME=QUANTITY...]")
        out[key.strip()] = value.strip()
    return out


@dataclass
class Settings:
    data_dir: Path
    listen: str = "127.0.0.1:6443"
    store: str = "sqlite"
    service_cidr: str = "127.96.0.0/16"
    cluster_cidr: str = "127.64.0.0/10"
    history: int = 10000
    compaction_interval: float = 300.0
    node_name: str = field(default_factory=socket.gethostname)
    local_node: bool = True
    node_grace_period: float = 40.0
    pod_eviction_timeout: float = 300.0
    crashloop_base: float = 10.0
    # GitOps engine
    repo: str | None = None          # None: the hosted DATA/repo.git; a URL: a mirrored remote
    branch: str = "main"
    path: str = ""
    poll_interval: float = 30.0
    rollout_timeout: float = 120.0
    target_kubeconfig: Path | None = None
    self_heal: bool = True
    allow_empty: bool = False
    # metrics and autoscaling (metrics-server's --metric-resolution, the HPA controller's sync period)
    metrics_interval: float = 15.0
    hpa_sync_period: float = 15.0
    # Ingress proxy (off unless --ingress-listen)
    ingress_listen: str | None = None
    ingress_tls_listen: str | None = None
    # extra age identity files for decrypting SOPS files (--age-key; $SOPS_AGE_KEY_FILE too)
    age_keys: list[Path] = field(default_factory=list)
    # per-client budgets on the API's TCP port (--max-*-per-client; 0 turns one off)
    client_limits: ClientLimits = field(default_factory=ClientLimits)
    # observability: console/log format (text|json), --notify-url receivers and their HMAC secret
    log_format: str = "text"
    notify_urls: list[str] = field(default_factory=list)
    notify_secret: str | None = None


@dataclass
class NodeSettings:
    name: str
    kubeconfig: Path
    data_dir: Path
    capacity: dict[str, str] = field(default_factory=dict)
    simulated: bool = False
    crashloop_base: float = 10.0
    heartbeat_interval: float = 10.0


def _echo_to(say: logs.Console) -> Callable[[dict[str, Any]], None]:
    """Sync progress on the daemon's console: what a user watching ``gitkube up`` sees
    (``gitkube: <message>``, or JSON lines with the event's fields under ``--log-format json``)."""

    def echo(event: dict[str, Any]) -> None:
        say(str(event.get("message", "")), prefix="gitkube: ", fields=event)

    return echo


def _in_process_client(server: APIServer, token: str, component: str) -> Client:
    return Client(HTTPTransport(server.socket_url, token, user_agent=f"{component}/gitkube"), field_manager=component)


class ControlPlane:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.server: APIServer | None = None
        self.kubeconfig: Path | None = None
        self.agent: NodeAgent | None = None
        self.engine: Engine | None = None
        self.ingress: IngressProxy | None = None
        self.notifier: webhook.WebhookSender | None = None
        self.leadership: Leadership | None = None
        self._clients: list[Client] = []
        self._new_engine: Callable[[], Engine] | None = None  # a fresh engine for each leader term
        self._engine_holders: list[EngineHTTP | Dashboard] = []
        self._engine_ran = False
        self._tasks: list[asyncio.Task[None]] = []

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s stopped with an error", name)
                raise

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        host, port = parse_listen(self.settings.listen)
        creds = pki.ensure_credentials(self.data_dir, host)
        # Secrets are encrypted at rest (AES-GCM, DATA/pki/encryption.key), as Kubernetes'
        # EncryptionConfiguration aesgcm provider does, under every reader of the store.
        store = EncryptedStore(open_store(self.settings.store, self.data_dir, history=self.settings.history),
                               ensure_key(self.data_dir))
        self.server = APIServer(store, creds, self.data_dir, host=host, port=port,
                                service_cidr=self.settings.service_cidr, history=self.settings.history,
                                compaction_interval=self.settings.compaction_interval,
                                limits=self.settings.client_limits)
        try:
            await self.server.start()
        except OSError as exc:
            await self.server.stop()
            raise errors.ConfigError(f"cannot listen on {self.settings.listen}: {exc.strerror or exc}") from None

        def client(component: str) -> Client:
            assert self.server is not None
            c = _in_process_client(self.server, creds.admin_token, component)
            self._clients.append(c)
            return c

        # Controllers, scheduler and GitOps sync run on the leader only (see _start_leadership).
        loop_clients = client("kube-controller-manager"), client("default-scheduler")
        elected = not self.settings.store.strip().startswith("sqlite")
        if self.settings.local_node or not elected:
            # kube-proxy is per node: of several daemons on one store only those with a local node
            # run one (two proxies on one machine would fight over the same Service VIPs)
            service_proxy = ServiceProxy(client("kube-proxy"))
            service_proxy.queue.instrument(self.server.metrics.queue("service-proxy"))
            self._spawn("proxy", service_proxy.run)
        if self.settings.ingress_listen is not None:
            tls = self.settings.ingress_tls_listen
            self.ingress = IngressProxy(client("gitkube-ingress"),
                                        listen=_flag_address(self.settings.ingress_listen, "--ingress-listen"),
                                        tls_listen=_flag_address(tls, "--ingress-tls-listen") if tls else None)
            await self.ingress.start()  # binds now: a busy port fails `gitkube up` with ConfigError
            self._spawn("ingress-proxy", self.ingress.run)
        if self.settings.local_node:
            # Heartbeat four times per grace period, as the kubelet renews its lease at a quarter
            # of the lease duration (10 s against the default 40 s).
            self.agent = NodeAgent(client("kubelet"), detect_runtime(self.data_dir), node_name=self.settings.node_name,
                                   data_dir=self.data_dir, crashloop_base=self.settings.crashloop_base,
                                   heartbeat_interval=min(10.0, self.settings.node_grace_period / 4),
                                   metrics_interval=self.settings.metrics_interval)
            self._spawn("node-agent", self.agent.run)
        self._start_engine(creds)
        self._start_leadership(*loop_clients, client("gitkube-leader-election") if elected else None)
        self.kubeconfig, _ = pki.write_kubeconfig(self.data_dir, self.server.url, creds)

    def _start_leadership(self, manager_client: Client, scheduler_client: Client, election: Client | None) -> None:
        """The leader-only loops, built afresh for each term; with ``election`` (an etcd store) a Lease
        decides which daemon leads, else this one always does."""
        assert self.server is not None
        server, s = self.server, self.settings

        def loops() -> list[Loop]:
            manager = ControllerManager(manager_client, node_grace_period=s.node_grace_period,
                                        pod_eviction_timeout=s.pod_eviction_timeout, cluster_cidr=s.cluster_cidr,
                                        hpa_sync_period=s.hpa_sync_period, volume_dir=self.data_dir / "volumes")
            for controller in manager.controllers:  # workqueue_* series, by controller name
                controller.queue.instrument(server.metrics.queue(controller.name))
            return [("gitops-engine", self._term_engine().run), ("controller-manager", manager.run),
                    ("scheduler", Scheduler(scheduler_client).run)]

        identity = f"{socket.gethostname()}:{self.data_dir.resolve()}"
        elector = None if election is None else LeaderElector(election, ElectionConfig(identity=identity))
        self.leadership = Leadership(identity, loops, elector)
        server.add_ready_check(self._engine_ready)
        self._spawn("leader", self.leadership.run)

    def _term_engine(self) -> Engine:
        """The first term syncs with the engine built at start; later terms get a fresh one (nothing a
        former term cached may outlive it), which the HTTP endpoints and the dashboard then serve."""
        assert self.engine is not None and self._new_engine is not None and self.server is not None
        if self._engine_ran:
            self.engine = self._new_engine()
            for holder in self._engine_holders:
                holder.engine = self.engine
            self.server.metrics.set_sync_info(self.engine.status)
        self._engine_ran = True
        return self.engine

    def _engine_ready(self) -> bool:
        """``/readyz``: a daemon that does not lead has no sync loop to wait for."""
        leading = self.leadership is not None and self.leadership.is_leader
        return not leading or (self.engine is not None and self.engine.ready.is_set())

    async def _shared_state(self) -> dict[str, Any]:
        """The GitOps state every daemon can read: the leader's, from the release log."""
        assert self.engine is not None
        state = await self.engine.releases.state()
        return {"commit": state.commit, "healthy": state.healthy, "held": state.held}

    def _start_engine(self, creds: pki.Credentials) -> None:
        """The GitOps engine: its source, its client (the built-in API, or --target-kubeconfig), its
        HTTP endpoints on the API server and the hooks' configuration."""
        assert self.server is not None
        s = self.settings
        source = open_source(s.repo, s.branch, self.data_dir, poll_interval=s.poll_interval)
        if s.target_kubeconfig is not None:
            target = Client(from_kubeconfig(s.target_kubeconfig, user_agent="gitkube/gitkube"), field_manager="gitkube")
        else:
            target = _in_process_client(self.server, creds.admin_token, "gitkube")
        self._clients.append(target)
        age_keys = [str(p) for p in agekey.extra_key_files(s.age_keys)]
        write_engine_config(self.data_dir, {"branch": s.branch, "path": s.path, "allow_empty": s.allow_empty,
                                            "rollout_timeout": s.rollout_timeout, "age_keys": age_keys})
        ensure_identity(self.data_dir)  # DATA/age.key (0600): what sealed secrets are for
        identities = agekey.load_identities(self.data_dir, age_keys)  # a bad --age-key fails `up` here
        if s.notify_urls:
            self.notifier = webhook.WebhookSender(s.notify_urls, secret=s.notify_secret)
            self.notifier.start()
        reporter = SyncReporter(target, branch=s.branch, path=s.path, app=source.description,
                                metrics=self.server.metrics, notifier=self.notifier)
        cache = ParseCache(self.data_dir / "cache" / "manifests.cache")
        if source.kind == "hosted" and not s.store.strip().startswith("sqlite"):
            log.warning("each daemon hosts its own DATA/repo.git: with several daemons on one store, give them "
                        "all the same --repo, or a commit pushed to one is not seen by the next leader")

        def new_engine(source: Source = source) -> Engine:
            return Engine(source, target, EngineSettings(branch=s.branch, path=s.path, rollout_timeout=s.rollout_timeout,
                                                         self_heal=s.self_heal, allow_empty=s.allow_empty,
                                                         decrypt=sops.Decryptor(identities)),
                          cache=cache, echo=_echo_to(logs.console(s.log_format)), reporter=reporter)

        self._new_engine = new_engine
        self.engine = new_engine()
        self.server.metrics.set_sync_info(self.engine.status)
        authenticator = self.server.authenticator

        def is_admin(header: str | None) -> bool:
            return not authenticator.authenticate(header).read_only

        http = EngineHTTP(self.engine, is_admin, creds.admin_token,
                          hosted_root=self.data_dir if source.kind == "hosted" else None)
        self._engine_holders.append(http)
        # before the engine's /gitkube/ routes: who leads, and only the leader's engine syncs
        self.server.mount("/gitkube/v1/status", leader.status_handler(lambda: self.leadership, http.handle_engine,
                                                                      self._shared_state))
        for path in ("/gitkube/v1/sync", "/gitkube/v1/rollback"):
            self.server.mount(path, leader.leader_only(lambda: self.leadership, http.handle_engine))
        for prefix, handler in http.routes().items():
            self.server.mount(prefix, handler)
        # the web dashboard (/ui/): its own client to the cluster the engine manages
        if s.target_kubeconfig is not None:
            ui_client = Client(from_kubeconfig(s.target_kubeconfig, user_agent="gitkube-ui/gitkube"))
        else:
            ui_client = _in_process_client(self.server, creds.admin_token, "gitkube-ui")
        self._clients.append(ui_client)
        dashboard = Dashboard(self.engine, ui_client, is_admin)
        self._engine_holders.append(dashboard)
        self.server.mount("/ui/rollback", leader.leader_only(lambda: self.leadership, dashboard.handle))
        for prefix, handler in dashboard.routes().items():
            self.server.mount(prefix, handler)
        self._spawn("dashboard", dashboard.run)

    async def stop(self) -> None:
        for task in self._tasks:
            if task.get_name() == "leader":  # stop syncing (then controllers, scheduler) before pods stop
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.notifier is not None:  # the last sync's documents get a short chance to leave
            await self.notifier.drain(5.0)
            await self.notifier.stop()
        if self.agent is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.agent.shutdown_pods(), 60)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for c in self._clients:
            await c.close()
        self._clients.clear()
        if self.server is not None:
            await self.server.stop()
            self.server = None


async def _until_signal(start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[None]],
                        banner: Callable[[], None], say: logs.Console | None = None) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
        banner()
        await stopping.wait()
    finally:
        (say or logs.console())("gitkube: stopping")
        await stop()


def run_up(settings: Settings) -> int:
    """Run the control plane until SIGTERM/SIGINT; 0 on a clean stop."""
    plane = ControlPlane(settings)
    say = logs.console(settings.log_format)  # every console line in the --log-format

    def banner() -> None:
        assert plane.server is not None
        say(f"gitkube API server: {plane.server.url}")
        say(f"kubeconfig: {plane.kubeconfig}")
        say(f"try: kubectl --kubeconfig {plane.kubeconfig} get nodes")
        say(f"dashboard: {plane.server.url}/ui/  (log in with the token of the kubeconfig)")
        if plane.ingress is not None:
            tls = f", https on {plane.ingress.tls_listen[0]}:{plane.ingress.tls_port}" if plane.ingress.tls_listen else ""
            say(f"ingress: http on {plane.ingress.listen[0]}:{plane.ingress.port}{tls}")
        if plane.engine is not None:
            source = plane.engine.source
            say(f"GitOps: following branch {source.branch} of {source.description}")
            if source.kind == "hosted":
                say(f"deploy: git push {source.repo.path} {source.branch}   "
                    f"(or {plane.server.url}/git/repo.git, the admin token as the password)")

    try:
        uvloop.run(_until_signal(plane.start, plane.stop, banner, say))
    except errors.GitkubeError as exc:
        logs.console(settings.log_format, sys.stderr)(f"gitkube: error: {exc}", level="error")
        return 1
    return 0


def run_node(settings: NodeSettings) -> int:
    """Run one more node agent joining the control plane of ``settings.kubeconfig``."""
    state: dict[str, Any] = {}

    async def start() -> None:
        if not settings.kubeconfig.exists():
            raise errors.ConfigError(f"--kubeconfig {settings.kubeconfig}: no such file (start `gitkube up` first)")
        client = Client(from_kubeconfig(settings.kubeconfig, user_agent="kubelet/gitkube"), field_manager="kubelet")
        runtime = detect_runtime(settings.data_dir)
        agent = NodeAgent(client, runtime, node_name=settings.name, data_dir=settings.data_dir,
                          capacity=settings.capacity or None, simulated=settings.simulated,
                          crashloop_base=settings.crashloop_base, heartbeat_interval=settings.heartbeat_interval)
        state.update(client=client, agent=agent, task=asyncio.create_task(agent.run(), name="node-agent"))

    async def stop() -> None:
        agent, task, client = state.get("agent"), state.get("task"), state.get("client")
        if agent is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent.shutdown_pods(), 60)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if client is not None:
            await client.close()

    def banner() -> None:
        print(f"gitkube node {settings.name}: joined", flush=True)

    try:
        uvloop.run(_until_signal(start, stop, banner))
    except errors.GitkubeError as exc:
        print(f"gitkube: error: {exc}", file=sys.stderr)
        return 1
    return 0
