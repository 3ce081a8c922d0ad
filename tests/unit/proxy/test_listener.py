"""Listener: real TCP forwarding through a balancer (no API server involved)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from gitkube.proxy.balancer import Backend, Balancer
from gitkube.proxy.listener import Listener

from .backends import connect, greeting, running_backend, unusual_subnet


async def start(balancer: Balancer, host: str) -> Listener:
    listener = Listener(host, 0, balancer, connect_timeout=1.0)
    await listener.start()
    return listener


async def test_round_robin_echo_and_half_close() -> None:
    net = unusual_subnet()
    async with running_backend("a", f"{net}.11") as a, running_backend("b", f"{net}.12") as b:
        listener = await start(Balancer([Backend(a.host, a.port), Backend(b.host, b.port)]), f"{net}.1")
        try:
            names = [await greeting(listener.host, listener.bound_port) for _ in range(4)]
            assert names == ["a", "b", "a", "b"]
            reader, writer = await connect(listener.host, listener.bound_port)
            assert await reader.readline() == b"a\n"
            writer.write(b"hello\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"hello\n"
            writer.write_eof()  # half-close: the backend still answers after our EOF
            assert await asyncio.wait_for(reader.read(), 5) == b"bye 6\n"
            writer.close()
        finally:
            listener.abort()


async def test_large_transfer_with_backpressure() -> None:
    net = unusual_subnet()
    payload = os.urandom(16 * 1024 * 1024)
    async with running_backend("big", f"{net}.11") as backend:
        listener = await start(Balancer([Backend(backend.host, backend.port)]), f"{net}.1")
        try:
            reader, writer = await connect(listener.host, listener.bound_port)
            assert await reader.readline() == b"big\n"

            async def send() -> None:
                for i in range(0, len(payload), 1 << 20):
                    writer.write(payload[i:i + (1 << 20)])
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.create_task(send())
            echoed = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
            await sender
            assert echoed == payload
            assert await asyncio.wait_for(reader.read(), 5) == f"bye {len(payload)}\n".encode()
            writer.close()
        finally:
            listener.abort()


async def test_failed_connect_falls_through_to_next_ready_endpoint() -> None:
    net = unusual_subnet()
    async with running_backend("live", f"{net}.12") as live:
        dead = Backend(f"{net}.11", live.port)  # nothing listens there
        listener = await start(Balancer([dead, Backend(live.host, live.port)]), f"{net}.1")
        try:
            assert [await greeting(listener.host, listener.bound_port) for _ in range(4)] == ["live"] * 4
        finally:
            listener.abort()


async def test_no_ready_endpoint_refuses_quickly() -> None:
    net = unusual_subnet()
    balancer = Balancer()
    listener = await start(balancer, f"{net}.1")
    try:
        began = time.monotonic()
        reader, writer = await connect(listener.host, listener.bound_port)
        try:
            assert await asyncio.wait_for(reader.read(), 2) == b""
        except ConnectionResetError:
            pass
        writer.close()
        assert time.monotonic() - began < 1.0
        async with running_backend("late", f"{net}.11") as late:
            balancer.update([Backend(late.host, late.port)])  # in place: the listener picks it up
            assert await greeting(listener.host, listener.bound_port) == "late"
    finally:
        listener.abort()


async def test_close_stops_accepting_but_keeps_established_connections() -> None:
    net = unusual_subnet()
    async with running_backend("a", f"{net}.11") as a:
        listener = await start(Balancer([Backend(a.host, a.port)]), f"{net}.1")
        port = listener.bound_port
        reader, writer = await connect(listener.host, port)
        assert await reader.readline() == b"a\n"
        listener.close()
        assert not listener.serving
        with pytest.raises(OSError):
            await connect(listener.host, port)
        writer.write(b"still here\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"still here\n"
        writer.close()
        listener.abort()


async def test_backend_closing_closes_client() -> None:
    net = unusual_subnet()
    async with running_backend("a", f"{net}.11") as a:
        listener = await start(Balancer([Backend(a.host, a.port)]), f"{net}.1")
        try:
            reader, writer = await connect(listener.host, listener.bound_port)
            assert await reader.readline() == b"a\n"
            for w in a.writers:
                w.transport.abort()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            await asyncio.sleep(0.05)
            assert not listener.connections
        finally:
            listener.abort()


async def test_connection_burst() -> None:
    net = unusual_subnet()
    async with running_backend("a", f"{net}.11") as a, running_backend("b", f"{net}.12") as b:
        listener = await start(Balancer([Backend(a.host, a.port), Backend(b.host, b.port)]), f"{net}.1")
        try:
            names = await asyncio.gather(*(greeting(listener.host, listener.bound_port) for _ in range(300)))
            assert sorted(set(names)) == ["a", "b"]
            assert names.count("a") == names.count("b") == 150
            assert listener.accepted == 300
        finally:
            listener.abort()
