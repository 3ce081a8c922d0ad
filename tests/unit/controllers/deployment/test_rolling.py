"""RollingUpdate: every step keeps within maxSurge/maxUnavailable; rollout undo reuses the old ReplicaSet."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.controllers.deployment import util
from tests.unit.controllers.deployment.conftest import Harness, deployment, rollout_status


async def _new_image(harness: Harness, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image,
                                                            "command": ["python", "-m", "http.server"]}]}}}}
    await harness.client.patch("deployments", "web", patch, "default")


async def _roll_checking(harness: Harness, max_total: int, min_available: int) -> list[tuple[int, ...]]:
    """Drive a rollout to completion; after every controller step check the pod budget with
    pods becoming available only at the following tick. Returns the sizes seen."""
    seen: list[tuple[int, ...]] = []
    for _ in range(60):
        await harness.step()
        rss = await harness.rss()
        sizes = tuple(int(rs["spec"]["replicas"]) for rs in rss)
        seen.append(sizes)
        total = sum(sizes)
        available = sum(min(int((rs.get("status") or {}).get("availableReplicas") or 0), int(rs["spec"]["replicas"]))
                        for rs in rss)
        assert total <= max_total, (sizes, seen)
        assert available >= min_available, (sizes, seen)
        await harness.tick()
        if rollout_status(await harness.get())[0]:
            return seen
    raise AssertionError(f"rollout did not finish: {seen}")


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "max_total", "min_available"), [
    (4, 1, 1, 5, 3),
    (10, "25%", "25%", 13, 8),   # surge rounds up (2.5 -> 3), unavailable down (2.5 -> 2)
    (3, 0, 1, 3, 2),
    (3, "50%", 0, 5, 3),
])
async def test_rolling_update_respects_surge_and_unavailable(
        harness: Harness, replicas: int, surge: Any, unavailable: Any, max_total: int, min_available: int) -> None:
    await harness.client.create("deployments", deployment(
        replicas=replicas, strategy={"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}))
    await harness.converge()
    [first] = await harness.rss()

    await _new_image(harness, "python:3.12")
    seen = await _roll_checking(harness, max_total, min_available)
    assert len(seen) > 1

    old, new = await harness.rss()
    assert old["metadata"]["name"] == first["metadata"]["name"]
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, replicas)
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    d = await harness.get()
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["updatedReplicas"] == replicas and d["status"]["observedGeneration"] == 2
    events = await harness.events()
    down = f"ScalingReplicaSet: Scaled down replica set {old['metadata']['name']} from "
    assert any(e.startswith(down) and e.endswith(" to 0") for e in events), events


async def test_first_steps_of_a_rolling_update(harness: Harness) -> None:
    """4 replicas, maxSurge 1, maxUnavailable 1: Kubernetes' exact first steps."""
    await harness.client.create("deployments", deployment(
        replicas=4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}))
    await harness.converge()
    await _new_image(harness, "python:3.12")
    await harness.step()
    old, new = await harness.rss()
    # the new RS is created with the one surge pod, then one old pod goes (4 available > 3)
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (3, 1)
    d = await harness.get()
    assert {c["type"]: c["reason"] for c in d["status"]["conditions"]}["Progressing"] == "NewReplicaSetCreated"
    assert rollout_status(d) == (False, "0 out of 4 new replicas have been updated...")  # no new pod yet
    await harness.step()  # new pod not available yet: new may grow to 2 (3 + 1 < 5)
    old, new = await harness.rss()
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (3, 2)
    await harness.step()  # 5 pods, 3 available, 2 new unavailable: nothing may move
    old, new = await harness.rss()
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (3, 2)
    await harness.tick()
    await harness.step()  # the 2 new are available: 5 available, min 3, so 2 old go
    old, new = await harness.rss()
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (1, 2)
    events = await harness.events()
    assert f"ScalingReplicaSet: Scaled down replica set {old['metadata']['name']} from 4 to 3" in events
    assert f"ScalingReplicaSet: Scaled up replica set {new['metadata']['name']} from 1 to 2" in events
    assert f"ScalingReplicaSet: Scaled down replica set {old['metadata']['name']} from 3 to 1" in events
    d = await harness.get()
    assert {c["type"]: c["reason"] for c in d["status"]["conditions"]}["Progressing"] == "ReplicaSetUpdated"


async def test_rollout_undo_patch_reuses_the_old_replicaset(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=2))
    await harness.converge()
    await _new_image(harness, "python:3.12")
    await harness.converge()
    rs1, rs2 = await harness.rss()
    assert util.revision(rs1) == 1 and util.revision(rs2) == 2

    # What `kubectl rollout undo` sends (KUBECTL-COMPAT.md §3.9): the old RS's template without
    # the hash label, as a Go client re-encodes it, and the annotations to restore.
    template = rs1["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    template["metadata"]["creationTimestamp"] = None
    for c in template["spec"]["containers"]:
        c["resources"] = {}
    d = await harness.get()
    anns = {"deployment.kubernetes.io/revision": d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "kubernetes.io/change-cause": "initial"}
    await harness.client.patch("deployments", "web", [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": anns}], "default", patch_type="json")
    await harness.converge()

    rss = await harness.rss()
    assert [rs["metadata"]["name"] for rs in rss] == [rs2["metadata"]["name"], rs1["metadata"]["name"]]
    back, gone = rss[1], rss[0]
    assert util.revision(back) == 3
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert (back["spec"]["replicas"], gone["spec"]["replicas"]) == (2, 0)
    d = await harness.get()
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rollout_status(d)[0]
