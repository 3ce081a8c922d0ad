"""DeploymentController against a real API server: creation, status, conditions, events."""

from __future__ import annotations

import pytest

from gitkube import errors
from gitkube.controllers.deployment import util
from tests.unit.controllers.deployment.conftest import Harness, deployment, rollout_status


async def test_create_makes_owned_replicaset_with_hash_and_annotations(harness: Harness) -> None:
    created = await harness.client.create("deployments", deployment(replicas=3))
    await harness.step()

    [rs] = await harness.rss()
    h = util.template_hash(created["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": h}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": created["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}]
    anns = rs["metadata"]["annotations"]
    assert anns["deployment.kubernetes.io/revision"] == "1"
    assert anns["deployment.kubernetes.io/desired-replicas"] == "3"
    assert anns["deployment.kubernetes.io/max-replicas"] == "4"  # 25% of 3 rounds up to 1
    assert anns["kubernetes.io/change-cause"] == "initial"

    d = await harness.get()
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    st = d["status"]
    assert st["observedGeneration"] == 1
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "NewReplicaSetCreated")
    assert conds["Progressing"]["message"] == f'Created new replica set "web-{h}"'
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert st.get("unavailableReplicas") == 3
    assert not rollout_status(d)[0]
    assert f"ScalingReplicaSet: Scaled up replica set web-{h} from 0 to 3" in await harness.events()

    await harness.tick()
    await harness.step()
    d = await harness.get()
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in st
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == ("True", "MinimumReplicasAvailable")
    assert conds["Available"]["message"] == "Deployment has minimum availability."
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "NewReplicaSetAvailable")
    assert conds["Progressing"]["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    assert rollout_status(d) == (True, 'deployment "web" successfully rolled out')

    # A second sync with nothing new writes nothing.
    rv = d["metadata"]["resourceVersion"]
    await harness.step()
    assert (await harness.get())["metadata"]["resourceVersion"] == rv


async def test_missing_deployment_is_a_no_op(harness: Harness) -> None:
    await harness.ctrl.sync("default/nothere")
    assert (await harness.client.list("replicasets", "default"))["items"] == []


async def test_min_ready_seconds_is_passed_to_the_replicaset(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=1, minReadySeconds=5))
    await harness.step()
    [rs] = await harness.rss()
    assert rs["spec"]["minReadySeconds"] == 5
    await harness.client.patch("deployments", "web", {"spec": {"minReadySeconds": 7}}, "default")
    await harness.step()
    [rs] = await harness.rss()  # same template: same ReplicaSet, updated in place
    assert rs["spec"]["minReadySeconds"] == 7


async def test_deleting_deployment_only_gets_status(harness: Harness) -> None:
    body = deployment(replicas=2)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await harness.client.create("deployments", body)
    await harness.client.delete("deployments", "web", "default")
    await harness.step()
    assert await harness.rss() == []
    d = await harness.get()
    assert d["metadata"]["deletionTimestamp"] and d["status"]["observedGeneration"] == d["metadata"]["generation"]
    await harness.client.patch("deployments", "web", {"metadata": {"finalizers": None}}, "default")


async def test_change_cause_follows_the_deployment(harness: Harness) -> None:
    await harness.client.create("deployments", deployment(replicas=1))
    await harness.step()
    await harness.client.patch("deployments", "web", {"metadata": {"annotations": {
        "kubernetes.io/change-cause": "kubectl set image"}}, "spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": "python:3.12", "command": ["python", "-m", "http.server"]}]}}}}, "default")
    await harness.step()
    old, new = await harness.rss()
    assert old["metadata"]["annotations"]["kubernetes.io/change-cause"] == "initial"
    assert new["metadata"]["annotations"]["kubernetes.io/change-cause"] == "kubectl set image"


async def test_hash_collision_bumps_collision_count(harness: Harness) -> None:
    body = deployment(replicas=1)
    defaulted = await harness.client.create("deployments", body, dry_run=True)
    h = util.template_hash(defaulted["spec"]["template"])
    squatter = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"web-{h}", "namespace": "default", "labels": {"app": "other"}},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                         "template": {"metadata": {"labels": {"app": "other"}},
                                      "spec": {"containers": [{"name": "x", "image": "x"}]}}}}
    await harness.client.create("replicasets", squatter, "default")
    created = await harness.client.create("deployments", body)
    assert util.template_hash(created["spec"]["template"]) == h
    await harness.settle()
    with pytest.raises(errors.AlreadyExists):
        await harness.ctrl.sync("default/web")
    assert (await harness.get())["status"]["collisionCount"] == 1
    await harness.step()
    [rs] = await harness.rss()
    assert rs["metadata"]["name"] == f"web-{util.template_hash(created['spec']['template'], 1)}"
    assert rs["metadata"]["name"] != f"web-{h}"
