"""Small TCP backends and client helpers for the service proxy tests (real sockets).

A backend greets each connection with ``<name>\\n`` (server speaks first), then echoes
every line until the client half-closes, answers ``bye <bytes>\\n`` and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Backend", "connect", "eventually", "greeting", "running_backend", "unusual_subnet"]


def unusual_subnet() -> str:
    """``127.a.b`` unlikely to be used by anything else on the machine (or another test)."""
    return f"127.{random.randint(150, 250)}.{random.randint(1, 250)}"


@dataclass
class Backend:
    name: str
    host: str
    port: int = 0
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        total = 0
        try:
            writer.write(f"{self.name}\n".encode())
            await writer.drain()
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                writer.write(chunk)
                await writer.drain()
            writer.write(f"bye {total}\n".encode())
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def running_backend(name: str, host: str, port: int = 0) -> AsyncIterator[Backend]:
    backend = Backend(name, host)
    backend.server = await asyncio.start_server(backend.handle, host, port)
    backend.port = int(backend.server.sockets[0].getsockname()[1])
    try:
        yield backend
    finally:
        backend.server.close()
        for w in backend.writers:
            w.close()


async def connect(host: str, port: int, *, source: str | None = None,
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    local = (source, 0) if source else None
    return await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=local), 5)


async def greeting(host: str, port: int, *, source: str | None = None) -> str:
    """Connect, read the backend's name, close."""
    reader, writer = await connect(host, port, source=source)
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
        return line.decode().strip()
    finally:
        writer.close()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
        except (TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)
