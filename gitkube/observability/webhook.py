"""Outgoing webhooks: JSON documents POSTed to the ``--notify-url`` receivers, never blocking the caller.

``WebhookSender(urls, secret=...)``: ``send(event, document)`` only puts the document on a bounded
queue per URL (when a queue is full the oldest document is dropped and counted); one task per URL
delivers them in order. A delivery is retried with exponential backoff (``base`` doubling up to
``cap``; 5 tries over about half a minute by default) on connection errors, timeouts, 408, 429 and
5xx answers; any other answer (2xx, or a 4xx the receiver means) ends it. Each request carries:

- ``Content-Type: application/json``, ``User-Agent: gitkube/<version>``;
- ``X-Gitkube-Event`` (synced, failed, rolledback, drift...) and ``X-Gitkube-Delivery`` (one id per
  document, the same on every retry, so a receiver can drop duplicates);
- with a secret, ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``, the header GitHub
  signs its webhooks with, so existing receivers can verify it.

The sender knows nothing of what it sends: ``gitkube.engine.notify`` builds the documents (and
keeps Secret data out of them). Started by ``gitkube.app`` for ``gitkube up --notify-url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from gitkube import __version__

__all__ = ["WebhookSender", "signature"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 429})


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Delivery:
    id: str
    event: str
    body: bytes


class WebhookSender:
    def __init__(self, urls: Sequence[str], *, secret: str | None = None, tries: int = 5, base: float = 2.0,
                 cap: float = 30.0, timeout: float = 10.0, queue_size: int = 100) -> None:
        self.urls = list(urls)
        self.secret = secret
        self.tries = tries
        self.base = base
        self.cap = cap
        self.timeout = timeout
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {url: asyncio.Queue(queue_size) for url in self.urls}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    def send(self, event: str, document: dict[str, Any]) -> None:
        """Queue ``document`` for every receiver; returns at once."""
        body = json.dumps(document, sort_keys=True, default=str).encode()
        delivery = _Delivery(uuid.uuid4().hex, event, body)
        for url, queue in self._queues.items():
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                    queue.task_done()
                self.dropped += 1
                log.warning("notification queue of %s is full: dropped the oldest document", url)
            queue.put_nowait(delivery)

    def start(self) -> None:
        """Start one delivery task per receiver (call inside the running loop)."""
        if self._tasks or not self.urls:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._tasks = [asyncio.create_task(self._deliver_all(url, queue), name=f"notify-{i}")
                       for i, (url, queue) in enumerate(self._queues.items())]

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued document to be delivered or given up."""
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues.values())), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver_all(self, url: str, queue: asyncio.Queue[_Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                if await self._deliver(url, delivery):
                    self.delivered += 1
                else:
                    self.failed += 1
            finally:
                queue.task_done()

    async def _deliver(self, url: str, delivery: _Delivery) -> bool:
        headers = {"Content-Type": "application/json", "User-Agent": f"gitkube/{__version__}",
                   "X-Gitkube-Event": delivery.event, "X-Gitkube-Delivery": delivery.id}
        if self.secret:
            headers["X-Hub-Signature-256"] = signature(self.secret, delivery.body)
        assert self._session is not None
        for attempt in range(1, self.tries + 1):
            try:
                async with self._session.post(url, data=delivery.body, headers=headers) as response:
                    status = response.status
                    await response.read()
                if 200 <= status < 300:
                    return True
                problem = f"HTTP {status}"
                if status < 500 and status not in _RETRY_STATUS:
                    log.warning("notification %s to %s refused (%s): not retried", delivery.event, url, problem)
                    return False
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = str(exc) or type(exc).__name__
            if attempt == self.tries:
                log.warning("notification %s to %s failed after %d tries: %s", delivery.event, url, attempt, problem)
                return False
            delay = min(self.base * 2 ** (attempt - 1), self.cap)
            log.info("notification %s to %s failed (%s); retry %d in %.1fs", delivery.event, url, problem,
                     attempt, delay)
            await asyncio.sleep(delay)
        return False
