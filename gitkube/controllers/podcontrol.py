"""Creating and deleting a controller's pods, as client-go's ``PodControl`` and
``controller.slowStartBatch`` do, for every controller that owns pods directly.

- :meth:`PodControl.create` creates one pod and records ``SuccessfulCreate``/``FailedCreate`` on
  the owner; a refusal because the namespace is being terminated is not a failure.
- :meth:`PodControl.create_batches` creates pods in slow-start batches of 1, 2, 4 ... and stops
  after the first batch with a failure, so a broken template costs one request, not hundreds;
  the creations it never made (or that failed) are taken off the owner's expectations.
- :meth:`PodControl.delete` deletes one pod (by uid) and records ``SuccessfulDelete``/
  ``FailedDelete``; a pod already gone counts as deleted. A deletion that failed or found
  nothing is taken off the expectations at once (no watch event will come for it).

Callers set the expectations before acting. Used by the ReplicaSet, DaemonSet and Job controllers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gitkube import errors
from gitkube.client import Client, EventRecorder, key_of
from gitkube.controllers.expectations import Expectations

__all__ = ["PodControl"]

Obj = dict[str, Any]


class PodControl:
    def __init__(self, client: Client, events: EventRecorder, expectations: Expectations) -> None:
        self.client = client
        self.events = events
        self.expectations = expectations

    async def create(self, owner: Obj, pod: Obj) -> errors.APIError | None:
        try:
            made = await self.client.create("pods", pod, owner["metadata"]["namespace"])
        except errors.APIError as exc:
            if "because it is being terminated" in exc.message:
                return None
            self.events.record(owner, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return exc
        self.events.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")
        return None

    async def create_batches(self, key: str, owner: Obj, pods: Sequence[Obj]) -> tuple[int, errors.APIError | None]:
        """(pods created, the first failure)."""
        created, pos, batch = 0, 0, 1
        failure: errors.APIError | None = None
        while pos < len(pods) and failure is None:
            chunk = pods[pos:pos + batch]
            pos += len(chunk)
            results = await asyncio.gather(*(self.create(owner, pod) for pod in chunk))
            created += sum(1 for r in results if r is None)
            failure = next((r for r in results if r is not None), None)
            batch *= 2
        if created < len(pods):
            self.expectations.creation_observed(key, len(pods) - created)
        return created, failure

    async def delete(self, key: str, owner: Obj, pod: Obj) -> errors.APIError | None:
        m = pod["metadata"]
        try:
            await self.client.delete("pods", m["name"], m["namespace"], uid=m.get("uid"))
        except errors.NotFound:
            self.expectations.deletion_observed(key, key_of(pod))
            return None
        except errors.APIError as exc:
            self.expectations.deletion_observed(key, key_of(pod))
            self.events.record(owner, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            return exc
        self.events.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")
        return None

    async def delete_all(self, key: str, owner: Obj, pods: Sequence[Obj]) -> list[errors.APIError | None]:
        """Delete ``pods`` concurrently; each one's outcome (None: deleted or already gone)."""
        return list(await asyncio.gather(*(self.delete(key, owner, p) for p in pods)))
