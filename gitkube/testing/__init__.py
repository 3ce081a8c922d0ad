"""Test kit: a real API server in this process, and clients for it.

``running_apiserver(tmp_path)`` starts the HTTPS API server on a free port with a fresh
data dir and yields ``(server, client)`` where the client talks over the server's Unix
socket with the admin token. Controllers, scheduler, agent and proxy tests use it to run
against the real API rather than a fake. Nothing in ``gitkube`` imports this package
(layering rule R7).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gitkube.apiserver import pki
from gitkube.apiserver.server import APIServer
from gitkube.client import Client, HTTPTransport
from gitkube.store import SqliteStore

__all__ = ["running_apiserver"]


@contextlib.asynccontextmanager
async def running_apiserver(data_dir: Path, *, history: int = 10000) -> AsyncIterator[tuple[APIServer, Client]]:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    creds = pki.ensure_credentials(data_dir)
    server = APIServer(SqliteStore(data_dir / "state.db", history=history), creds, data_dir, port=0)
    await server.start()
    client = Client(HTTPTransport(server.socket_url, creds.admin_token, user_agent="gitkube-test"),
                    field_manager="gitkube-test")
    try:
        yield server, client
    finally:
        await client.close()
        await server.stop()
