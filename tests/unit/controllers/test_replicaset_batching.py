"""The ReplicaSet controller's cheap paths: a sync reads only its own pods' precomputed facts,
readiness changes are batched into few syncs and status writes, and its own status writes
do not trigger another sync."""

from __future__ import annotations

from pathlib import Path

from gitkube.controllers.replicaset import ReplicaSetController
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running
from tests.unit.controllers.test_replicaset import _count, _status, rs_manifest, set_ready


class CountingController(ReplicaSetController):
    syncs = 0

    async def sync(self, key: str) -> None:
        self.syncs += 1
        await super().sync(key)


async def test_readiness_bursts_are_batched_and_own_status_writes_do_not_resync(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("replicasets", rs_manifest(replicas=20), "default")
        controller = CountingController(client, status_batch_period=0.3)
        async with running(controller):
            pods = await eventually(lambda: _count(client, "web", 20))
            await eventually(lambda: _status(client, "web", replicas=20))

            async def idle() -> bool:
                return len(controller.queue) == 0

            await eventually(idle)
            before = controller.syncs
            for pod in pods:
                await set_ready(client, pod)
            await eventually(lambda: _status(client, "web", readyReplicas=20, availableReplicas=20))
            # 20 readiness changes (and the status writes they cause) took a handful of syncs
            assert controller.syncs - before <= 6, controller.syncs - before
            # the facts index holds exactly this set's live pods
            uid = controller.sets.get("default", "web")["metadata"]["uid"]  # type: ignore[index]
            assert len(controller._owned[uid]) == 20
            await client.delete("pods", pods[0]["metadata"]["name"], "default")
            await eventually(lambda: _count(client, "web", 20))
            assert len(controller._owned[uid]) == 20
