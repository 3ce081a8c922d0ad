"""Recreate, paused deployments, the progress deadline, history cleanup, scaling, adoption, rollback."""

from __future__ import annotations

from gitkube.api import meta
from gitkube.controllers.deployment import util
from tests.unit.controllers.deployment.conftest import Harness, deployment, rollout_status


async def _set_image(harness: Harness, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image,
                                                            "command": ["python", "-m", "http.server"]}]}}}}
    await harness.client.patch("deployments", "web", patch, "default")


async def _pod_of(harness: Harness, rs: dict, name: str, phase: str = "Running") -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "labels": dict(rs["spec"]["template"]["metadata"]["labels"]),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                             "uid": rs["metadata"]["uid"], "controller": True}]},
           "spec": rs["spec"]["template"]["spec"]}
    created = await harness.client.create("pods", pod, "default")
    created["status"] = {"phase": phase}
    await harness.client.update_status("pods", created)


async def test_recreate_waits_for_old_pods_before_creating_the_new_replicaset(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=2, strategy={"type": "Recreate"}))
    await harness.converge()
    [old] = await harness.rss()
    await _pod_of(harness, old, "web-a")
    await _pod_of(harness, old, "web-b")

    await _set_image(harness, "python:3.12")
    await harness.step()
    [old] = await harness.rss()
    assert old["spec"]["replicas"] == 0
    assert f"ScalingReplicaSet: Scaled down replica set {old['metadata']['name']} from 2 to 0" in await harness.events()
    await harness.step()  # the old RS still reports 2 replicas
    assert len(await harness.rss()) == 1
    await harness.tick()  # the RS reports 0, but its pods are still running
    await harness.step()
    assert len(await harness.rss()) == 1
    await harness.client.delete("pods", "web-a", "default", grace_period_seconds=0)
    await harness.step()
    assert len(await harness.rss()) == 1
    await harness.client.delete("pods", "web-b", "default", grace_period_seconds=0)
    await harness.step()
    old, new = await harness.rss()
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 2)
    assert f"ScalingReplicaSet: Scaled up replica set {new['metadata']['name']} from 0 to 2" in await harness.events()
    d = await harness.converge()
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert "rollingUpdate" not in d["spec"]["strategy"]


async def test_recreate_ignores_finished_pods(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=1, strategy={"type": "Recreate"}))
    await harness.converge()
    [old] = await harness.rss()
    await _pod_of(harness, old, "web-done", phase="Succeeded")
    await _set_image(harness, "python:3.12")
    await harness.step()
    await harness.tick()
    await harness.step()
    assert [rs["spec"]["replicas"] for rs in await harness.rss()] == [0, 1]


async def test_paused_deployment_scales_but_does_not_roll(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=2))
    await harness.converge()
    await harness.client.patch("deployments", "web", {"spec": {"paused": True}}, "default")
    await harness.step()
    d = await harness.get()
    progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")

    await _set_image(harness, "python:3.12")
    await harness.client.patch("deployments", "web", {"spec": {"replicas": 5}}, "default")
    await harness.step()
    [rs] = await harness.rss()
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert (await harness.get())["status"]["observedGeneration"] == 4  # create, pause, image, scale

    await harness.client.patch("deployments", "web", {"spec": {"paused": None}}, "default")
    await harness.step()
    assert len(await harness.rss()) == 2
    d = await harness.converge()
    assert {c["type"]: c["reason"] for c in d["status"]["conditions"]}["Progressing"] == "NewReplicaSetAvailable"
    assert [rs["spec"]["replicas"] for rs in await harness.rss()] == [0, 5]


async def test_progress_deadline_exceeded(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=2, progressDeadlineSeconds=30))
    await harness.step()
    [rs] = await harness.rss()
    requeued: list[float] = []
    harness.ctrl.env.requeue_after = lambda _d, delay: requeued.append(delay)
    harness.clock.advance(20)
    await harness.step()
    d = await harness.get()
    assert {c["type"]: c["reason"] for c in d["status"]["conditions"]}["Progressing"] == "NewReplicaSetCreated"
    # no progress: the deployment is queued again for when the deadline passes (10 s + 1 s)
    assert requeued == [11.0]

    harness.clock.advance(11)
    await harness.step()
    d = await harness.get()
    progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'
    try:
        rollout_status(d)
    except RuntimeError as exc:
        assert "exceeded its progress deadline" in str(exc)
    else:
        raise AssertionError("rollout status should fail")

    # Progress after the deadline still completes the rollout.
    await harness.tick()
    await harness.step()
    d = await harness.get()
    progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert rollout_status(d)[0]


async def test_progress_refreshes_last_update_time(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(
        replicas=4, progressDeadlineSeconds=30,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    await harness.converge()
    await _set_image(harness, "python:3.12")
    await harness.step()
    for _ in range(3):
        harness.clock.advance(25)  # each step is within the deadline of the previous progress
        await harness.tick()
        await harness.step()
        d = await harness.get()
        progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
        assert progressing["reason"] in ("ReplicaSetUpdated", "NewReplicaSetAvailable")
        assert meta.parse_time(progressing["lastUpdateTime"]) == harness.clock.now


async def test_revision_history_limit_deletes_oldest_empty_replicasets(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=1, revisionHistoryLimit=1))
    await harness.converge()
    for image in ("python:3.12", "python:3.13"):
        await _set_image(harness, image)
        await harness.converge()
    await harness.step()
    rss = await harness.rss()
    assert [util.revision(rs) for rs in rss] == [2, 3]
    assert [rs["spec"]["replicas"] for rs in rss] == [0, 1]


async def test_scaling_during_rollout_is_proportional(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(
        replicas=10, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}))
    await harness.converge()
    await _set_image(harness, "python:3.12")
    await harness.step()
    old, new = await harness.rss()
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (10, 3)
    await harness.client.patch("deployments", "web", {"spec": {"replicas": 20}}, "default")
    await harness.step()
    old, new = await harness.rss()
    # 13 pods before, 23 allowed now: old gets round(10*23/13)-10 = 8, new the other 2
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (18, 5)
    for rs in (old, new):
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "20"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "23"
    d = await harness.converge()
    assert [rs["spec"]["replicas"] for rs in await harness.rss()] == [0, 20]
    assert d["status"]["availableReplicas"] == 20


async def test_scale_down_to_zero_and_back(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=3))
    await harness.converge()
    await harness.client.patch("deployments", "web", {"spec": {"replicas": 0}}, "default")
    await harness.step()
    [rs] = await harness.rss()
    assert rs["spec"]["replicas"] == 0
    assert f"ScalingReplicaSet: Scaled down replica set {rs['metadata']['name']} from 3 to 0" in await harness.events()
    await harness.tick()
    await harness.step()
    d = await harness.get()
    assert rollout_status(d)[0]
    assert {c["type"]: c["status"] for c in d["status"]["conditions"]}["Available"] == "True"


async def test_orphan_replicaset_is_adopted(harness: Harness) -> None:
    created = await harness.client.create("deployments", deployment(replicas=1))
    template = dict(created["spec"]["template"])
    orphan = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "web-orphan", "namespace": "default", "labels": {"app": "web"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}
    await harness.client.create("replicasets", orphan, "default")
    await harness.step()
    [rs] = await harness.rss()
    assert rs["metadata"]["name"] == "web-orphan"  # same template: it is the new ReplicaSet
    assert rs["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


async def test_rollback_annotation_restores_revision(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=1))
    await harness.converge()
    await _set_image(harness, "python:3.12")
    await harness.converge()
    await harness.client.patch("deployments", "web", {"metadata": {"annotations": {
        "deprecated.deployment.rollback.to": "0"}}}, "default")
    await harness.step()
    d = await harness.get()
    assert "deprecated.deployment.rollback.to" not in d["metadata"]["annotations"]
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "python:3.11"
    assert 'DeploymentRollback: Rolled back deployment "web" to revision 1' in await harness.events()
    await harness.converge()
    assert [util.revision(rs) for rs in await harness.rss()] == [2, 3]

    await harness.client.patch("deployments", "web", {"metadata": {"annotations": {
        "deprecated.deployment.rollback.to": "9"}}}, "default")
    await harness.step()
    assert "RollbackRevisionNotFound: Unable to find the revision to rollback to." in await harness.events()
