"""Health per kind: the verdicts ``kubectl rollout status`` and Argo CD would give."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.api.objectkey import ObjectKey
from gitkube.health import Health, Related, assess, needs


def deployment(**status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    base.update(status)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "dep-uid", "generation": 2},
            "spec": {"replicas": 3}, "status": base}


def replicaset(revision: str, template_hash: str, owner: str = "dep-uid") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{template_hash}", "labels": {"pod-template-hash": template_hash},
                         "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"uid": owner, "kind": "Deployment", "name": "web"}]}}


def pod(name: str = "web-1", phase: str = "Running", ready: bool = True, template_hash: str = "new",
        **container: Any) -> dict[str, Any]:
    cs = {"name": "web", "ready": ready, "restartCount": 0, "state": {"running": {}}}
    cs.update(container)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"pod-template-hash": template_hash}},
            "spec": {"restartPolicy": "Always"},
            "status": {"phase": phase, "containerStatuses": [cs],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


CRASH: dict[str, Any] = {"ready": False, "restartCount": 3,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
         "lastState": {"terminated": {"reason": "Error", "exitCode": 127}}}


def test_missing() -> None:
    assert assess(None) == Health("Missing", "the object does not exist")


class TestDeployment:
    def test_rolled_out(self) -> None:
        assert assess(deployment()).status == "Healthy"

    @pytest.mark.parametrize(("status", "fragment"), [
        ({"observedGeneration": 1}, "spec update to be observed"),
        ({"updatedReplicas": 1}, "1 of 3 new replicas have been updated"),
        ({"replicas": 4}, "1 old replicas are pending termination"),
        ({"availableReplicas": 2}, "2 of 3 updated replicas are available"),
    ])
    def test_progressing(self, status: dict[str, Any], fragment: str) -> None:
        health = assess(deployment(**status))
        assert health.status == "Progressing" and fragment in health.message

    def test_progress_deadline_exceeded(self) -> None:
        dep = deployment(updatedReplicas=1, conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-new" has timed out progressing.'}])
        health = assess(dep)
        assert health.status == "Degraded" and "progress deadline" in health.message and "timed out" in health.message

    def test_paused(self) -> None:
        dep = deployment(updatedReplicas=0)
        dep["spec"]["paused"] = True
        assert assess(dep).status == "Suspended"

    def test_crash_loop_in_newest_replicaset(self) -> None:
        related = Related(pods=[pod("web-old", template_hash="old"), pod("web-new", template_hash="new", **CRASH)],
                          replicasets=[replicaset("1", "old"), replicaset("2", "new")])
        health = assess(deployment(updatedReplicas=1), related=related)
        assert health == Health("Degraded", "container web of pod web-new is crash looping: Error, exit code 127")

    def test_crash_loop_only_in_old_replicaset_does_not_count(self) -> None:
        related = Related(pods=[pod("web-old", template_hash="old", **CRASH), pod("web-new", template_hash="new")],
                          replicasets=[replicaset("1", "old"), replicaset("2", "new")])
        assert assess(deployment(), related=related).status == "Healthy"

    def test_terminated_with_restarts_counts_as_crash_loop(self) -> None:
        restarting: dict[str, Any] = {"restartCount": 2, "state": {"running": {}},
                      "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
        related = Related(pods=[pod(**restarting)], replicasets=[replicaset("1", "new")])
        health = assess(deployment(), related=related)
        assert health.status == "Degraded" and "OOMKilled, exit code 137" in health.message

    def test_restarts_that_ended_before_the_sync_are_history(self) -> None:
        old: dict[str, Any] = {"restartCount": 2, "state": {"running": {}},
                               "lastState": {"terminated": {"reason": "Error", "exitCode": 137,
                                                            "finishedAt": "2026-11-20T10:00:00Z"}}}
        before = Related(pods=[pod(**old)], replicasets=[replicaset("1", "new")], since="2026-11-27T04:00:00Z")
        assert assess(deployment(), related=before).status == "Healthy"
        during = Related(pods=[pod(**old)], replicasets=[replicaset("1", "new")], since="2026-11-20T09:59:59Z")
        assert assess(deployment(), related=during).status == "Degraded"
        waiting = {**old, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        looping = Related(pods=[pod(**waiting)], replicasets=[replicaset("1", "new")], since="2026-11-27T04:00:00Z")
        assert assess(deployment(), related=looping).status == "Degraded"

    def test_one_restart_is_not_a_crash_loop(self) -> None:
        once: dict[str, Any] = {"restartCount": 1, "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}
        assert assess(deployment(), related=Related(pods=[pod(**once)])).status == "Healthy"


class TestPod:
    def test_ready(self) -> None:
        assert assess(pod()).status == "Healthy"

    def test_not_ready(self) -> None:
        health = assess(pod(ready=False))
        assert health.status == "Progressing" and "not ready" in health.message

    def test_pending_unschedulable(self) -> None:
        p = pod(phase="Pending", ready=False)
        p["status"] = {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"}]}
        health = assess(p)
        assert health.status == "Progressing" and "0/1 nodes" in health.message

    @pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "CreateContainerError"])
    def test_cannot_start(self, reason: str) -> None:
        p = pod(ready=False, state={"waiting": {"reason": reason, "message": "boom"}})
        health = assess(p)
        assert health.status == "Degraded" and reason in health.message and "boom" in health.message

    def test_crash_loop(self) -> None:
        assert assess(pod(**CRASH)).status == "Degraded"

    def test_succeeded_and_failed(self) -> None:
        assert assess(pod(phase="Succeeded", ready=False)).status == "Healthy"
        failed = pod(phase="Failed", ready=False)
        failed["status"]["message"] = "OOM"
        assert assess(failed) == Health("Degraded", "pod web-1 failed: OOM")

    def test_being_deleted(self) -> None:
        p = pod()
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        assert assess(p).status == "Progressing"


def statefulset(partition: int = 0, **status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
            "currentRevision": "db-1", "updateRevision": "db-1"}
    base.update(status)
    spec: dict[str, Any] = {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}
    if partition:
        spec["updateStrategy"]["rollingUpdate"] = {"partition": partition}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "generation": 1},
            "spec": spec, "status": base}


class TestStatefulSet:
    def test_healthy(self) -> None:
        assert assess(statefulset()).status == "Healthy"

    def test_not_ready(self) -> None:
        assert "2 of 3 pods are ready" in assess(statefulset(readyReplicas=2)).message

    def test_revision_rolling(self) -> None:
        health = assess(statefulset(updateRevision="db-2", updatedReplicas=1))
        assert health.status == "Progressing" and "db-2" in health.message

    def test_partition(self) -> None:
        assert assess(statefulset(partition=2, updateRevision="db-2", updatedReplicas=0)).status == "Progressing"
        assert assess(statefulset(partition=2, updateRevision="db-2", updatedReplicas=1)).status == "Healthy"

    def test_crash_loop(self) -> None:
        assert assess(statefulset(), related=Related(pods=[pod(**CRASH)])).status == "Degraded"


def daemonset(**status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}
    base.update(status)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "generation": 1},
            "spec": {}, "status": base}


class TestDaemonSet:
    def test_healthy(self) -> None:
        assert assess(daemonset()).status == "Healthy"

    @pytest.mark.parametrize("status", [{"updatedNumberScheduled": 1}, {"numberAvailable": 1},
                                        {"observedGeneration": 0}])
    def test_progressing(self, status: dict[str, Any]) -> None:
        assert assess(daemonset(**status)).status == "Progressing"


class TestReplicaSet:
    def test_states(self) -> None:
        rs: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "generation": 1},
              "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "availableReplicas": 2}}
        assert assess(rs).status == "Healthy"
        short = copy.deepcopy(rs)
        short["status"]["availableReplicas"] = 1
        assert assess(short).status == "Progressing"
        failing = copy.deepcopy(rs)
        failing["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "message": "quota exceeded"}]
        assert assess(failing) == Health("Degraded", "replicaset web-1: quota exceeded")


def job(*conditions: dict[str, Any], suspend: bool = False) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"suspend": suspend}, "status": {"active": 1, "conditions": list(conditions)}}


class TestJob:
    def test_states(self) -> None:
        assert assess(job({"type": "Complete", "status": "True"})).status == "Healthy"
        failed = assess(job({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}))
        assert failed == Health("Degraded", "job migrate failed: BackoffLimitExceeded")
        assert assess(job()).status == "Progressing"
        assert assess(job(suspend=True)).status == "Suspended"

    def test_cronjob(self) -> None:
        cron: dict[str, Any] = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"suspend": True}}
        assert assess(cron).status == "Suspended"
        cron["spec"]["suspend"] = False
        assert assess(cron).status == "Healthy"


class TestService:
    def svc(self, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}

    def test_external_name_and_selectorless(self) -> None:
        assert assess(self.svc(type="ExternalName", externalName="example.com")).status == "Healthy"
        assert assess(self.svc(ports=[{"port": 80}])).status == "Healthy"

    def test_endpoints(self) -> None:
        svc = self.svc(selector={"app": "web"})
        assert assess(svc) == Health("Progressing", "service web: no ready endpoints")
        not_ready = {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]}
        assert assess(svc, related=Related(endpoints=not_ready)).status == "Progressing"
        ready = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
        assert assess(svc, related=Related(endpoints=ready)).status == "Healthy"


def test_pvc() -> None:
    pvc: dict[str, Any] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "status": {}}
    assert assess(pvc).status == "Progressing"
    pvc["status"]["phase"] = "Bound"
    assert assess(pvc).status == "Healthy"
    pvc["status"]["phase"] = "Lost"
    assert assess(pvc).status == "Degraded"


def test_hpa() -> None:
    hpa: dict[str, Any] = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                           "metadata": {"name": "web"}, "status": {}}
    assert assess(hpa).status == "Progressing"
    hpa["status"]["conditions"] = [{"type": "AbleToScale", "status": "True"},
                                   {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                                    "message": "missing request for cpu"}]
    assert assess(hpa) == Health("Degraded", "autoscaler web: missing request for cpu")
    hpa["status"]["conditions"][1] = {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}
    assert assess(hpa).status == "Healthy"


def test_other_kinds_are_healthy_when_present() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert assess(cm) == Health("Healthy", "configmap c exists")


def test_needs() -> None:
    assert needs(ObjectKey("apps", "Deployment", "ns", "web")) == {"pods", "replicasets"}
    assert needs(ObjectKey("", "Service", "ns", "web")) == {"endpoints"}
    assert needs(ObjectKey("apps", "StatefulSet", "ns", "db")) == {"pods"}
    assert needs(ObjectKey("", "ConfigMap", "ns", "c")) == set()
