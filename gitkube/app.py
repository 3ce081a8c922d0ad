"""Composition root: builds the control plane from the command-line settings and runs it.

``ControlPlane`` wires credentials (``apiserver.pki``), the store (``store.open_store``) and
the API server, writes the kubeconfigs once the API answers, and stops everything in
reverse order. ``run_up`` is what ``gitkube up`` calls: it runs the control plane on
uvloop until SIGTERM or SIGINT, then stops gracefully and returns 0.

Later issues add the controllers, scheduler, node agent, proxy and the GitOps engine here;
nothing else in gitkube imports this module (layering rule R7).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import uvloop

from gitkube import errors
from gitkube.apiserver import pki
from gitkube.apiserver.server import APIServer
from gitkube.store import open_store

__all__ = ["ControlPlane", "Settings", "default_data_dir", "parse_listen", "run_up"]

log = logging.getLogger("gitkube")


def default_data_dir() -> Path:
    env = os.environ.get("GITKUBE_DATA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "gitkube"


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


@dataclass
class Settings:
    data_dir: Path
    listen: str = "127.0.0.1:6443"
    store: str = "sqlite"
    service_cidr: str = "127.96.0.0/16"
    history: int = 10000
    compaction_interval: float = 300.0


class ControlPlane:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.server: APIServer | None = None
        self.kubeconfig: Path | None = None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        host, port = parse_listen(self.settings.listen)
        creds = pki.ensure_credentials(self.data_dir, host)
        store = open_store(self.settings.store, self.data_dir, history=self.settings.history)
        self.server = APIServer(store, creds, self.data_dir, host=host, port=port,
                                service_cidr=self.settings.service_cidr, history=self.settings.history,
                                compaction_interval=self.settings.compaction_interval)
        try:
            await self.server.start()
        except OSError as exc:
            await self.server.stop()
            raise errors.ConfigError(f"cannot listen on {self.settings.listen}: {exc.strerror or exc}") from None
        self.kubeconfig, _ = pki.write_kubeconfig(self.data_dir, self.server.url, creds)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


async def _serve(settings: Settings) -> None:
    plane = ControlPlane(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await plane.start()
    assert plane.server is not None
    print(f"gitkube API server: {plane.server.url}", flush=True)
    print(f"kubeconfig: {plane.kubeconfig}", flush=True)
    print(f"try: kubectl --kubeconfig {plane.kubeconfig} get namespaces", flush=True)
    try:
        await stop.wait()
    finally:
        print("gitkube: stopping", flush=True)
        await plane.stop()


def run_up(settings: Settings) -> int:
    """Run the control plane until SIGTERM/SIGINT; 0 on a clean stop."""
    try:
        uvloop.run(_serve(settings))
    except errors.GitkubeError as exc:
        print(f"gitkube: error: {exc}", file=sys.stderr)
        return 1
    return 0
