"""Fuzz fixtures: a real in-process API server on its own event loop thread, so synchronous
hypothesis tests can send it real HTTPS requests and read its store between examples."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from gitkube.apiserver.server import APIServer
from gitkube.client import Client
from gitkube.testing import running_apiserver

T = TypeVar("T")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str


@dataclass
class LiveServer:
    server: APIServer
    client: Client
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def revision(self) -> int:
        return self.run(self.server.store.current_revision())

    def settled_revision(self, quiet: float = 0.03, timeout: float = 3.0) -> int:
        """The store revision once background work of the server (the garbage collector acting on
        earlier deletions) has stopped moving it for ``quiet`` seconds."""
        async def settle() -> int:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            last = await self.server.store.current_revision()
            while loop.time() < deadline:
                await asyncio.sleep(quiet)
                now = await self.server.store.current_revision()
                if now == last:
                    return now
                last = now
            return last
        return self.run(settle())

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> Reply:
        async def go() -> Reply:
            headers = {"Authorization": f"Bearer {self.server.creds.admin_token}"}
            if content_type:
                headers["Content-Type"] = content_type
            async with self.session.request(method, self.server.url + path, data=body or None,
                                            headers=headers) as resp:
                return Reply(resp.status, await resp.read(), resp.headers.get("Content-Type", ""))
        return self.run(go())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-apiserver", daemon=True)
    thread.start()
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    ready: asyncio.Future[LiveServer] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running_apiserver(data) as (server, client):
            ctx = ssl.create_default_context(cafile=str(server.creds.ca_cert))
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
                ready.set_result(LiveServer(server, client, loop, session))
                await stop.wait()

    task = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        srv = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 60), loop).result(90)
    except Exception:
        if task.done():
            task.result()
        raise
    yield srv
    loop.call_soon_threadsafe(stop.set)
    task.result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
