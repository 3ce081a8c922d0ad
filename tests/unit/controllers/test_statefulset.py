"""The StatefulSet controller against a real API server, the test playing the node agent
(pods become Running+Ready when told, terminating pods are removed): ordered creation and
scale-down, Parallel management, claims from volumeClaimTemplates that outlive pods, rolling
updates with a partition, OnDelete, ControllerRevisions and status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.statefulset import StatefulSetController
from gitkube.controllers.statefulset import identity as ident
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running


def sts_manifest(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": "nginx", "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "python:1"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}],
                     **spec}}


async def live_pods(client: Client) -> dict[str, dict[str, Any]]:
    items = (await client.list("pods", "default"))["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


async def make_ready(client: Client, name: str) -> None:
    status = {"phase": "Running", "podIP": "127.1.0.5",
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": meta.now()}]}
    await client.patch("pods", name, {"status": status}, "default", subresource="status")


@contextlib.asynccontextmanager
async def kubelet(client: Client, *, ready: bool) -> AsyncIterator[tuple[list[str], list[str]]]:
    """Play the node agent: remove terminating pods at once and (if ``ready``) make new pods
    Running+Ready; yields the names in the order the pods were first seen, and the order
    in which they were deleted."""
    seen: list[str] = []
    deleted: list[str] = []
    watcher = Informer(client, "pods")
    watcher.add_handler(Handler(on_delete=lambda p: deleted.append(p["metadata"]["name"])))

    async def loop() -> None:
        while True:
            for pod in (await client.list("pods", "default"))["items"]:
                m = pod["metadata"]
                if m.get("deletionTimestamp"):
                    with contextlib.suppress(errors.NotFound, errors.Conflict):
                        await client.delete("pods", m["name"], "default", grace_period_seconds=0, uid=m["uid"])
                    continue
                if m["name"] not in seen:
                    seen.append(m["name"])
                if ready and (pod.get("status") or {}).get("phase") != "Running":
                    await make_ready(client, m["name"])
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(watcher.run())]
    await watcher.synced.wait()
    tasks.append(asyncio.create_task(loop()))
    try:
        yield seen, deleted
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _names(client: Client, want: set[str]) -> dict[str, dict[str, Any]] | None:
    pods = await live_pods(client)
    return pods if set(pods) == want else None


async def _status(client: Client, name: str = "web", **want: Any) -> dict[str, Any] | None:
    obj = await client.get("statefulsets", name, "default")
    status = obj.get("status") or {}
    return obj if all(status.get(k) == v for k, v in want.items()) else None


async def test_ordered_creation_identity_claims_and_ordered_scale_down(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        sts = await client.create("statefulsets", sts_manifest(), "default")
        async with running(StatefulSetController(client)):
            await eventually(lambda: _names(client, {"web-0"}))
            await asyncio.sleep(0.3)
            assert set(await live_pods(client)) == {"web-0"}  # OrderedReady: waits for web-0
            pod = (await live_pods(client))["web-0"]
            assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "nginx"
            labels = pod["metadata"]["labels"]
            assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
            assert labels["apps.kubernetes.io/pod-index"] == "0"
            assert labels["controller-revision-hash"].startswith("web-")
            assert pod["spec"]["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}
            assert meta.controller_ref(pod)["uid"] == sts["metadata"]["uid"]
            claim = await client.get("persistentvolumeclaims", "data-web-0", "default")
            assert claim["metadata"]["labels"] == {"tier": "db", "app": "web"}
            assert not claim["metadata"].get("ownerReferences")  # Retain: the claim outlives pod and set

            async with kubelet(client, ready=True) as (order, deleted):
                await eventually(lambda: _status(client, replicas=3, readyReplicas=3, currentReplicas=3,
                                                 updatedReplicas=3, availableReplicas=3))
                assert order == ["web-0", "web-1", "web-2"]
                done = await _status(client)
                assert done is not None
                status = done["status"]
                assert status["currentRevision"] == status["updateRevision"] == labels["controller-revision-hash"]
                assert status["observedGeneration"] == done["metadata"]["generation"]
                claims = {c["metadata"]["name"] for c in (await client.list("persistentvolumeclaims", "default"))["items"]}
                assert claims == {"data-web-0", "data-web-1", "data-web-2"}

                await client.patch("statefulsets", "web", {"spec": {"replicas": 1}}, "default")
                await eventually(lambda: _status(client, replicas=1, readyReplicas=1))
                assert deleted == ["web-2", "web-1"]
            events = (await client.list("events", "default"))["items"]
            assert {e["message"] for e in events if e["reason"] == "SuccessfulDelete"} == {
                "delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"}
            claims = {c["metadata"]["name"] for c in (await client.list("persistentvolumeclaims", "default"))["items"]}
            assert claims == {"data-web-0", "data-web-1", "data-web-2"}  # retained on scale down


async def test_parallel_creates_all_at_once(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("statefulsets", sts_manifest(replicas=3, podManagementPolicy="Parallel"), "default")
        async with running(StatefulSetController(client)):
            await eventually(lambda: _names(client, {"web-0", "web-1", "web-2"}))
            status = await eventually(lambda: _status(client, replicas=3, readyReplicas=0))
            assert status["status"]["updatedReplicas"] == 3
            await client.patch("statefulsets", "web", {"spec": {"replicas": 0}}, "default")
            async with kubelet(client, ready=False):
                await eventually(lambda: _none_left(client))
                await eventually(lambda: _status(client, replicas=0))


async def _none_left(client: Client) -> bool:
    return not (await client.list("pods", "default"))["items"]


async def _revision_of(client: Client, name: str) -> str | None:
    pods = await live_pods(client)
    return ident.pod_revision(pods[name]) if name in pods else None


async def test_rolling_update_with_partition_then_rollback(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("statefulsets", sts_manifest(), "default")
        async with running(StatefulSetController(client)), kubelet(client, ready=True):
            first = await eventually(lambda: _status(client, readyReplicas=3, updatedReplicas=3))
            old_revision = first["status"]["updateRevision"]
            patch = {"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                              "template": {"spec": {"containers": [{"name": "c", "image": "python:2"}]}}}}
            await client.patch("statefulsets", "web", patch, "default")
            partial = await eventually(lambda: _status(client, readyReplicas=3, updatedReplicas=2, currentReplicas=1))
            new_revision = partial["status"]["updateRevision"]
            assert new_revision != old_revision and partial["status"]["currentRevision"] == old_revision
            assert await _revision_of(client, "web-0") == old_revision
            assert await _revision_of(client, "web-1") == new_revision
            pods = await live_pods(client)
            assert pods["web-2"]["spec"]["containers"][0]["image"] == "python:2"

            revisions = (await client.list("controllerrevisions", "default"))["items"]
            by_name = {r["metadata"]["name"]: r for r in revisions}
            assert set(by_name) == {old_revision, new_revision}
            assert by_name[new_revision]["revision"] == 2
            data = by_name[new_revision]["data"]["spec"]["template"]
            assert data["$patch"] == "replace" and data["spec"]["containers"][0]["image"] == "python:2"

            await client.patch("statefulsets", "web", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
                               "default")
            done = await eventually(lambda: _status(client, readyReplicas=3, updatedReplicas=3, currentReplicas=3,
                                                    currentRevision=new_revision))
            assert done["status"]["updateRevision"] == new_revision

            # Back to the first template: the old revision is renumbered, not duplicated.
            back = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "python:1"}]}}}}
            await client.patch("statefulsets", "web", back, "default")
            await eventually(lambda: _status(client, readyReplicas=3, updatedReplicas=3, currentRevision=old_revision))
            revision = await client.get("controllerrevisions", old_revision, "default")
            assert revision["revision"] == 3


async def test_on_delete_replaces_only_deleted_pods(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("statefulsets", sts_manifest(replicas=2, updateStrategy={"type": "OnDelete"}), "default")
        async with running(StatefulSetController(client)), kubelet(client, ready=True):
            first = await eventually(lambda: _status(client, readyReplicas=2, updatedReplicas=2))
            old = first["status"]["updateRevision"]
            patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "python:2"}]}}}}
            await client.patch("statefulsets", "web", patch, "default")
            changed = await eventually(lambda: _status(client, updatedReplicas=0, currentReplicas=2))
            new = changed["status"]["updateRevision"]
            assert new != old
            await asyncio.sleep(0.3)
            assert await _revision_of(client, "web-1") == old
            await client.delete("pods", "web-1", "default")
            await eventually(lambda: _status(client, updatedReplicas=1, currentReplicas=1, readyReplicas=2))
            assert await _revision_of(client, "web-1") == new
            assert await _revision_of(client, "web-0") == old


def test_versioned_pod_follows_the_partition() -> None:
    sts = sts_manifest(replicas=3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    sts["metadata"].update(namespace="default", uid="u")
    newer = {**sts, "spec": {**sts["spec"], "template": {"metadata": {"labels": {"app": "web"}},
                                                         "spec": {"containers": [{"name": "c", "image": "v2"}]}}}}
    low = ident.versioned_pod(sts, newer, "web-a", "web-b", 1)
    high = ident.versioned_pod(sts, newer, "web-a", "web-b", 2)
    assert ident.pod_revision(low) == "web-a" and low["spec"]["containers"][0]["image"] == "python:1"
    assert ident.pod_revision(high) == "web-b" and high["spec"]["containers"][0]["image"] == "v2"
    assert ident.identity_matches(sts, high) and ident.storage_matches(sts, high)
    assert ident.ordinal_of({"metadata": {"name": "web-12"}}) == 12
    assert ident.ordinal_of({"metadata": {"name": "web"}}) == -1


async def _claim_names(client: Client) -> set[str]:
    items = (await client.list("persistentvolumeclaims", "default"))["items"]
    return {c["metadata"]["name"] for c in items if not c["metadata"].get("deletionTimestamp")}


async def test_retention_policy_delete_removes_claims_with_pods_and_set(tmp_path: Path) -> None:
    policy = {"whenScaled": "Delete", "whenDeleted": "Delete"}
    async with running_apiserver(tmp_path / "d") as (_s, client):
        sts = await client.create("statefulsets", sts_manifest(replicas=2, persistentVolumeClaimRetentionPolicy=policy),
                                  "default")
        async with running(StatefulSetController(client)), kubelet(client, ready=True):
            await eventually(lambda: _status(client, readyReplicas=2))
            claim = await client.get("persistentvolumeclaims", "data-web-1", "default")
            assert [(r["kind"], r["uid"], r["controller"]) for r in claim["metadata"]["ownerReferences"]] == [
                ("StatefulSet", sts["metadata"]["uid"], False)]
            await client.patch("statefulsets", "web", {"spec": {"replicas": 1}}, "default")

            async def only_first() -> bool:
                return await _claim_names(client) == {"data-web-0"}

            await eventually(only_first)
            await client.delete("statefulsets", "web", "default")

            async def none() -> bool:
                return not await _claim_names(client)

            await eventually(none)


async def test_failed_pod_is_recreated_with_the_same_name_and_claim(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("statefulsets", sts_manifest(replicas=1), "default")
        async with running(StatefulSetController(client)):
            first = (await eventually(lambda: _names(client, {"web-0"})))["web-0"]
            await client.patch("pods", "web-0", {"status": {"phase": "Failed"}}, "default", subresource="status")

            async def replaced() -> dict[str, Any] | None:
                pod = (await live_pods(client)).get("web-0")
                return pod if pod is not None and pod["metadata"]["uid"] != first["metadata"]["uid"] else None

            second = await eventually(replaced)
            assert second["spec"]["volumes"][0]["persistentVolumeClaim"] == {"claimName": "data-web-0"}
            events = (await client.list("events", "default"))["items"]
            assert any(e["reason"] == "RecreatingFailedPod" and e["message"] ==
                       "StatefulSet default/web is recreating failed Pod web-0" for e in events)
