"""The ReplicaSet controller against a real API server: creating, adopting, scaling down
the least valuable pods, replacing deleted pods, status counts and create failures."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.replicaset import ReplicaSetController, calculate_status, pods_to_delete
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


def rs_manifest(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "tier": "fe"}},
                                  "spec": {"containers": [{"name": "c", "image": "python"}]}},
                     **spec}}


async def pods_of(client: Client, rs_name: str) -> list[dict[str, Any]]:
    items = (await client.list("pods", "default"))["items"]
    return [p for p in items if (meta.controller_ref(p) or {}).get("name") == rs_name
            and not p["metadata"].get("deletionTimestamp")]


async def set_ready(client: Client, pod: dict[str, Any], *, node: str = "", ready: bool = True,
                    since: str | None = None, restarts: int = 0) -> None:
    """Play the node agent: bind (optionally) and post a Running status."""
    name = pod["metadata"]["name"]
    if node:
        await client.bind("default", name, node)
    status = {"phase": "Running", "podIP": "127.1.0.5",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                              "lastTransitionTime": since or meta.now()}],
              "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts, "image": "python",
                                     "imageID": "", "state": {"running": {"startedAt": meta.now()}}}]}
    await client.patch("pods", name, {"status": status}, "default", subresource="status")


async def test_creates_replicas_with_owner_refs_and_generated_names(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        rs = await client.create("replicasets", rs_manifest(), "default")
        async with running(ReplicaSetController(client)):
            pods = await eventually(lambda: _count(client, "web", 3))
            for pod in pods:
                ref = meta.controller_ref(pod)
                assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                               "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
                name = pod["metadata"]["name"]
                assert name.startswith("web-") and len(name) == len("web-") + 5
                assert pod["metadata"]["labels"] == {"app": "web", "tier": "fe"}
            await asyncio.sleep(0.3)
            assert len(await pods_of(client, "web")) == 3  # expectations: no over-creation
            status = await eventually(lambda: _status(client, "web", replicas=3))
            assert status["fullyLabeledReplicas"] == 3 and "readyReplicas" not in status
            assert status["observedGeneration"] == 1
            events = (await client.list("events", "default"))["items"]
            created = [e for e in events if e["reason"] == "SuccessfulCreate"]
            assert {e["message"] for e in created} == {f"Created pod: {p['metadata']['name']}" for p in pods}
            assert all(e["source"]["component"] == "replicaset-controller" for e in created)


async def _count(client: Client, name: str, n: int) -> list[dict[str, Any]] | None:
    pods = await pods_of(client, name)
    return pods if len(pods) == n else None


async def _status(client: Client, name: str, **want: int) -> dict[str, Any] | None:
    status = (await client.get("replicasets", name, "default")).get("status") or {}
    return status if all(status.get(k, 0) == v for k, v in want.items()) else None


async def test_replaces_deleted_pod_and_counts_ready_and_available(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("replicasets", rs_manifest(replicas=2, minReadySeconds=2), "default")
        async with running(ReplicaSetController(client)):
            pods = await eventually(lambda: _count(client, "web", 2))
            await client.delete("pods", pods[0]["metadata"]["name"], "default")
            pods = await eventually(lambda: _count(client, "web", 2))
            assert pods[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in pods[1:]}
            started = asyncio.get_running_loop().time()
            for pod in pods:
                await set_ready(client, pod)
            status = await eventually(lambda: _status(client, "web", replicas=2, readyReplicas=2))
            if asyncio.get_running_loop().time() - started < 1.5:
                assert status.get("availableReplicas", 0) == 0  # not yet Ready for minReadySeconds
            await eventually(lambda: _status(client, "web", availableReplicas=2), timeout=5)


async def test_scale_down_deletes_least_valuable_pods(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        await client.create("replicasets", rs_manifest(replicas=4), "default")
        async with running(ReplicaSetController(client)):
            pods = sorted(await eventually(lambda: _count(client, "web", 4)), key=lambda p: p["metadata"]["name"])
            old = meta.format_time(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
            await set_ready(client, pods[0], node="n1", since=old)           # best: long ready
            await set_ready(client, pods[1], node="n1")                      # ready just now
            await set_ready(client, pods[2], node="n1", ready=False)         # running, not ready
            # pods[3] stays unscheduled and Pending: the first to go
            await eventually(lambda: _status(client, "web", readyReplicas=2))
            await client.patch("replicasets", "web", {"spec": {"replicas": 2}}, "default")
            left = await eventually(lambda: _count(client, "web", 2))
            assert {p["metadata"]["name"] for p in left} == {pods[0]["metadata"]["name"], pods[1]["metadata"]["name"]}
            await client.patch("replicasets", "web", {"spec": {"replicas": 1}}, "default")
            left = await eventually(lambda: _count(client, "web", 1))
            assert left[0]["metadata"]["name"] == pods[0]["metadata"]["name"]
            await eventually(lambda: _status(client, "web", replicas=1, readyReplicas=1, observedGeneration=3))


async def test_adopts_matching_orphans_and_releases_non_matching(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "c", "image": "python"}]}}
        await client.create("pods", orphan, "default")
        await client.create("replicasets", rs_manifest(replicas=2), "default")
        async with running(ReplicaSetController(client)):
            pods = await eventually(lambda: _count(client, "web", 2))
            assert "orphan" in {p["metadata"]["name"] for p in pods}
            await client.patch("pods", "orphan", {"metadata": {"labels": {"app": "other"}}}, "default")
            await eventually(lambda: _released(client))
            pods = await eventually(lambda: _count(client, "web", 2))
            assert "orphan" not in {p["metadata"]["name"] for p in pods}


async def _released(client: Client) -> bool:
    return meta.controller_ref(await client.get("pods", "orphan", "default")) is None


class QuotaClient(Client):
    """The real client, with a pod-count quota the way the ResourceQuota admission words it
    (gitkube's API server has no quota admission of its own yet)."""

    pod_limit = 1

    async def create(self, resource: Any, obj: Any, namespace: str | None = None, **kwargs: Any) -> dict[str, Any]:
        if resource == "pods":
            used = len((await self.list("pods", namespace))["items"])
            if used >= self.pod_limit:
                raise errors.Forbidden(f'pods "{obj["metadata"].get("generateName", "")}" is forbidden: exceeded quota: q, '
                                       f"requested: pods=1, used: pods={used}, limited: pods={self.pod_limit}")
        return await super().create(resource, obj, namespace, **kwargs)


async def test_create_failure_sets_replica_failure_condition(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, plain):
        client = QuotaClient(plain.transport)
        await client.create("replicasets", rs_manifest(replicas=3), "default")
        async with running(ReplicaSetController(client)):
            status = await eventually(lambda: _failure(client))
            cond = next(c for c in status["conditions"] if c["type"] == "ReplicaFailure")
            assert cond["status"] == "True" and cond["reason"] == "FailedCreate"
            assert "exceeded quota" in cond["message"]
            assert len(await pods_of(client, "web")) == 1
            events = (await client.list("events", "default"))["items"]
            assert any(e["reason"] == "FailedCreate" and e["message"].startswith("Error creating: ") for e in events)
            client.pod_limit = 10
            await eventually(lambda: _count(client, "web", 3), timeout=15)
            await eventually(lambda: _no_failure(client), timeout=15)


async def _failure(client: Client) -> dict[str, Any] | None:
    status = (await client.get("replicasets", "web", "default")).get("status") or {}
    return status if any(c["type"] == "ReplicaFailure" for c in status.get("conditions") or []) else None


async def _no_failure(client: Client) -> dict[str, Any] | None:
    status = (await client.get("replicasets", "web", "default")).get("status") or {}
    return status if status.get("replicas") == 3 and not status.get("conditions") else None


def _pod(name: str, *, node: str = "", phase: str = "Pending", ready: bool = False, restarts: int = 0,
         created: str = "2024-01-01T00:00:00Z", ready_since: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": ready_since}],
                       "containerStatuses": [{"restartCount": restarts}]}}


def test_pods_to_delete_ranking() -> None:
    pods = [
        _pod("old-ready", node="a", phase="Running", ready=True, ready_since="2024-01-01T00:00:00Z"),
        _pod("new-ready", node="b", phase="Running", ready=True, ready_since="2024-01-02T00:00:00Z"),
        _pod("restarts", node="c", phase="Running", ready=True, restarts=5),
        _pod("not-ready", node="a", phase="Running"),
        _pod("unknown", node="a", phase="Unknown"),
        _pod("pending", node="a", phase="Pending"),
        _pod("unscheduled"),
    ]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, pods, len(pods) - 1)]
    # old-ready goes before the other ready pods: four related pods share node "a"
    assert order == ["unscheduled", "pending", "unknown", "not-ready", "old-ready", "new-ready"]
    # doubled-up node before a shorter ready time; restarts before fewer restarts; newer before older
    a1 = _pod("a1", node="a", phase="Running", ready=True, ready_since="2024-01-01T00:00:00Z")
    b1 = _pod("b1", node="b", phase="Running", ready=True, ready_since="2024-01-03T00:00:00Z")
    assert pods_to_delete([a1, b1], [a1, b1, _pod("a-sibling", node="a", phase="Running")], 1)[0] is a1
    assert pods_to_delete([a1, b1], [a1, b1], 1)[0] is b1
    r0 = _pod("r0", node="a", phase="Running", ready=True)
    r5 = _pod("r5", node="b", phase="Running", ready=True, restarts=5)
    assert pods_to_delete([r0, r5], [r0, r5], 1)[0] is r5
    n1 = _pod("n1", created="2024-01-01T00:00:00Z")
    n2 = _pod("n2", created="2024-01-05T00:00:00Z")
    assert pods_to_delete([n1, n2], [], 1)[0] is n2


def test_status_omits_zero_counts_and_drops_failure_condition() -> None:
    rs = rs_manifest(replicas=1)
    rs["metadata"].update(generation=4)
    rs["status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "x"}]}
    assert calculate_status(rs, [], None, -1) == {"replicas": 0, "observedGeneration": 4}
