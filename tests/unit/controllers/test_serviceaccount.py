"""The ServiceAccount controller: a ``default`` account in every active namespace."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from gitkube import errors
from gitkube.client import Client
from gitkube.controllers.serviceaccount import ServiceAccountController
from gitkube.testing import running_apiserver


async def has_default(client: Client, namespace: str) -> bool:
    try:
        await client.get("serviceaccounts", "default", namespace)
        return True
    except errors.NotFound:
        return False


async def wait_for(client: Client, namespace: str, present: bool = True) -> None:
    for _ in range(200):
        if await has_default(client, namespace) == present:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"default ServiceAccount in {namespace}: expected present={present}")


async def test_default_service_account_per_namespace(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "early"}})
        controller = ServiceAccountController(client)
        task = asyncio.create_task(controller.run())
        try:
            await wait_for(client, "early")
            await wait_for(client, "default")
            await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
            await wait_for(client, "team")
            await client.delete("serviceaccounts", "default", "team")
            await wait_for(client, "team")  # recreated
            await client.patch("namespaces", "early", {"metadata": {"finalizers": ["test/hold"]}})
            await client.delete("namespaces", "early")
            await asyncio.sleep(0.2)
            with contextlib.suppress(errors.NotFound):
                await client.delete("serviceaccounts", "default", "early")
            await asyncio.sleep(0.3)
            assert not await has_default(client, "early")  # terminating: not recreated
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
