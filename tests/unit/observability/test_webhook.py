"""Outgoing webhooks against a real local HTTP receiver: retried with backoff on 5xx, signed with
HMAC-SHA256, not retried on a 4xx, never blocking the sender, the oldest dropped when full."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gitkube.observability.webhook import WebhookSender, signature


@dataclass
class Receiver:
    url: str = ""
    fail_first: int = 0
    status_on_fail: int = 500
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        self.headers.append(dict(request.headers))
        if self.attempts <= self.fail_first:
            return web.Response(status=self.status_on_fail)
        self.bodies.append(body)
        self.got.set()
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


async def test_retried_until_delivered_and_signed(receiver: Receiver) -> None:
    receiver.fail_first = 2
    sender = WebhookSender([receiver.url], secret="s3cret", base=0.05)
    sender.start()
    try:
        sender.send("synced", {"event": "synced", "commit": "abc"})
        assert await sender.drain(10)
    finally:
        await sender.stop()
    assert receiver.attempts == 3 and sender.delivered == 1 and sender.failed == 0
    assert json.loads(receiver.bodies[0]) == {"event": "synced", "commit": "abc"}
    last = receiver.headers[-1]
    expected = "sha256=" + hmac.new(b"s3cret", receiver.bodies[0], hashlib.sha256).hexdigest()
    assert last["X-Hub-Signature-256"] == expected == signature("s3cret", receiver.bodies[0])
    assert last["X-Gitkube-Event"] == "synced" and last["Content-Type"] == "application/json"
    # one delivery id for every try of one document
    assert len({h["X-Gitkube-Delivery"] for h in receiver.headers}) == 1


async def test_gives_up_after_the_last_try(receiver: Receiver) -> None:
    receiver.fail_first = 100
    sender = WebhookSender([receiver.url], tries=3, base=0.01)
    sender.start()
    try:
        sender.send("failed", {"event": "failed"})
        assert await sender.drain(10)
    finally:
        await sender.stop()
    assert receiver.attempts == 3 and sender.failed == 1 and sender.delivered == 0
    assert "X-Hub-Signature-256" not in receiver.headers[0]  # no secret, no signature


async def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.fail_first, receiver.status_on_fail = 100, 400
    sender = WebhookSender([receiver.url], base=0.01)
    sender.start()
    try:
        sender.send("drift", {"event": "drift"})
        assert await sender.drain(10)
    finally:
        await sender.stop()
    assert receiver.attempts == 1 and sender.failed == 1


async def test_an_unreachable_receiver_neither_blocks_nor_grows_without_bound(receiver: Receiver) -> None:
    dead = "http://127.0.0.1:9/hook"  # discard port: connection refused
    sender = WebhookSender([dead, receiver.url], base=0.05, tries=3, queue_size=2)
    sender.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(5):
            sender.send("synced", {"n": n})
        assert loop.time() - started < 0.05  # send() only queues
        await asyncio.wait_for(receiver.got.wait(), 10)
    finally:
        await sender.stop()
    assert sender.dropped == 6  # each queue of 2 kept only the newest documents, 3 and 4
    assert json.loads(receiver.bodies[0])["n"] == 3  # and the live receiver is not held up by the dead one
