"""Helpers shared by the controller tests: run a controller in the background, poll with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gitkube.controllers.base import Controller

__all__ = ["eventually", "running"]

C = TypeVar("C", bound=Controller)


@contextlib.asynccontextmanager
async def running(controller: C) -> AsyncIterator[C]:
    """Run ``controller`` until the block ends; pending events are flushed afterwards."""
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await controller.events.flush()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """The first truthy result of ``check``, polled every 50 ms; AssertionError after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    result: Any = None
    while asyncio.get_running_loop().time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s (last: {result!r})")
