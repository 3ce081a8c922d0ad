"""The object tree: ownership chains, Service → Endpoints → Pods, health on every node."""

from __future__ import annotations

from typing import Any

from gitkube.ui import tree


def meta(name: str, uid: str, owner: str | None = None, ns: str = "shop", **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid, **extra}
    if owner:
        m["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "X", "name": "x", "apiVersion": "v1"}]
    return m


def pod(name: str, uid: str, owner: str | None, ready: bool = True) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, uid, owner),
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "podIP": "127.64.0.9",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0,
                                              "state": {"running": {}}}]}}


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", "d1", generation=1),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "python:3.11"}]}}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                       "availableReplicas": 2}}


def replicaset(name: str, uid: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": meta(name, uid, "d1", annotations={"deployment.kubernetes.io/revision": "2"}),
            "spec": {"replicas": replicas}, "status": {"replicas": replicas, "readyReplicas": replicas}}


def test_deployment_replicaset_pods_and_hidden_empty_old_set() -> None:
    objs = {"deployments": [deployment()],
            "replicasets": [replicaset("web-new", "r2", 2), replicaset("web-old", "r1", 0)],
            "pods": [pod("web-new-a", "p1", "r2"), pod("web-new-b", "p2", "r2", ready=False)]}
    [root] = tree.build(objs)
    assert (root.kind, root.name, root.status) == ("Deployment", "web", "Healthy")
    assert "2/2 ready" in root.detail and "python:3.11" in root.detail
    [rs] = root.children
    assert rs.name == "web-new" and "revision 2" in rs.detail
    assert [(p.name, p.status) for p in rs.children] == [("web-new-a", "Healthy"), ("web-new-b", "Progressing")]
    assert "Running · 1/1 ready" in rs.children[0].detail


def test_service_endpoints_point_at_their_pods() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta("web", "s1"),
           "spec": {"selector": {"app": "web"}, "clusterIP": "127.96.0.10", "ports": [{"port": 80}]}}
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web", "e1"),
          "subsets": [{"addresses": [{"ip": "127.64.0.9", "targetRef": {"kind": "Pod", "name": "lone"}}]}]}
    objs = {"services": [svc], "endpoints": [ep], "pods": [pod("lone", "p9", None)]}
    roots = tree.build(objs)
    assert [(n.kind, n.name) for n in roots] == [("Service", "web"), ("Pod", "lone")]
    service = roots[0]
    assert service.status == "Healthy" and "127.96.0.10 80/TCP" in service.detail
    [endpoints] = service.children
    assert endpoints.kind == "Endpoints" and endpoints.detail == "1 ready, 0 not ready addresses"
    assert [p.name for p in endpoints.children] == ["lone"]


def test_cronjob_jobs_pods_and_missing_endpoints() -> None:
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly", "c1"),
          "spec": {"schedule": "0 3 * * *"}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("nightly-1", "j1", "c1"),
           "status": {"succeeded": 1}}
    done = pod("nightly-1-x", "p5", "j1")
    done["status"]["phase"] = "Succeeded"
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta("nothing", "s2"), "spec": {"selector": {"a": "b"}}}
    roots = tree.build({"cronjobs": [cj], "jobs": [job], "pods": [done], "services": [svc]})
    kinds = [(n.kind, n.name) for n in roots]
    assert kinds == [("CronJob", "nightly"), ("Service", "nothing")]
    assert [n.name for n in roots[0].walk()] == ["nightly", "nightly-1", "nightly-1-x"]
    assert roots[1].children == [] and roots[1].status != "Healthy"
