"""The object tree of the dashboard's objects page, with a health verdict on every node.

:func:`build` turns the cached objects of :meth:`gitkube.ui.cache.ClusterCache.snapshot` into
top-level :class:`Node` trees, the way Argo CD's resource tree reads:

- Deployment → its ReplicaSets (by ownerReference; empty old ones hidden) → their Pods
- StatefulSet, DaemonSet, Job → Pods;  CronJob → Jobs → Pods;  a ReplicaSet without owner → Pods
- Service → Endpoints → the Pods the addresses point at (targetRef)
- Pods without an owner stand alone.

Every node's health comes from :func:`gitkube.health.assess` (with the related objects that
kind's check needs), so the colours match ``gitkube status`` and the sync's own health gate.
Pure: no I/O. Called by ``gitkube.ui.views``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitkube import health

__all__ = ["KIND_ORDER", "Node", "build", "pod_detail"]

Obj = dict[str, Any]
KIND_ORDER = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Service", "Pod")


@dataclass
class Node:
    kind: str
    namespace: str
    name: str
    status: str            # one of gitkube.health.STATUSES
    message: str
    detail: str = ""       # a short line: "2/2 ready", "Running 1/1 · 127.64.0.5"
    children: list[Node] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def walk(self) -> Iterable[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _uid(obj: Obj) -> str:
    return str(_meta(obj).get("uid") or "")


def _owners(obj: Obj) -> list[str]:
    return [str(ref.get("uid")) for ref in _meta(obj).get("ownerReferences") or () if ref.get("controller")]


def _by_owner(objs: Iterable[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = defaultdict(list)
    for obj in objs:
        for owner in _owners(obj):
            out[owner].append(obj)
    return out


def _node(obj: Obj, kind: str, verdict: health.Health, detail: str, children: list[Node] | None = None) -> Node:
    m = _meta(obj)
    return Node(kind, str(m.get("namespace") or ""), str(m.get("name") or ""), verdict.status, verdict.message,
                detail, sorted(children or [], key=lambda n: n.name))


def pod_detail(pod: Obj) -> str:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    total = len((pod.get("spec") or {}).get("containers") or []) or len(statuses)
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    parts = [str(status.get("phase") or "Pending"), f"{ready}/{total} ready"]
    if restarts:
        parts.append(f"{restarts} restarts")
    if status.get("podIP"):
        parts.append(str(status["podIP"]))
    return " · ".join(parts)


def _pod(pod: Obj) -> Node:
    return _node(pod, "Pod", health.assess(pod), pod_detail(pod))


def _replicas(obj: Obj) -> str:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", status.get("desiredNumberScheduled", 1))
    ready = status.get("readyReplicas", status.get("numberReady", 0)) or 0
    return f"{ready}/{want} ready"


def _images(obj: Obj) -> str:
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ", ".join(str(c.get("image") or "") for c in template.get("containers") or ())


def _replicaset(rs: Obj, pods_of: Mapping[str, list[Obj]]) -> Node:
    pods = pods_of.get(_uid(rs), [])
    verdict = health.assess(rs, related=health.Related(pods=pods))
    revision = (_meta(rs).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    detail = _replicas(rs) + (f" · revision {revision}" if revision else "")
    return _node(rs, "ReplicaSet", verdict, detail, [_pod(p) for p in pods])


def _controller_with_pods(obj: Obj, kind: str, pods_of: Mapping[str, list[Obj]]) -> Node:
    pods = pods_of.get(_uid(obj), [])
    verdict = health.assess(obj, related=health.Related(pods=pods))
    detail = _replicas(obj) if kind != "Job" else _job_detail(obj)
    return _node(obj, kind, verdict, detail, [_pod(p) for p in pods])


def _job_detail(job: Obj) -> str:
    status = job.get("status") or {}
    return f"{status.get('succeeded') or 0} succeeded, {status.get('active') or 0} active, {status.get('failed') or 0} failed"


def _service(svc: Obj, endpoints: Obj | None, pods: Mapping[tuple[str, str], Obj]) -> Node:
    verdict = health.assess(svc, related=health.Related(endpoints=endpoints))
    spec = svc.get("spec") or {}
    ports = ", ".join(f"{p.get('port')}/{p.get('protocol') or 'TCP'}" for p in spec.get("ports") or ())
    children: list[Node] = []
    if endpoints is not None:
        ns = str(_meta(svc).get("namespace") or "")
        backing: list[Node] = []
        ready = not_ready = 0
        for subset in endpoints.get("subsets") or ():
            for state, addresses in (("ready", subset.get("addresses")), ("not ready", subset.get("notReadyAddresses"))):
                for address in addresses or ():
                    ref = address.get("targetRef") or {}
                    pod = pods.get((ns, str(ref.get("name") or ""))) if ref.get("kind") == "Pod" else None
                    if state == "ready":
                        ready += 1
                    else:
                        not_ready += 1
                    if pod is not None:
                        backing.append(_pod(pod))
        detail = f"{ready} ready, {not_ready} not ready addresses"
        children.append(Node("Endpoints", ns, str(_meta(endpoints).get("name") or ""),
                             health.HEALTHY if ready else health.PROGRESSING,
                             "has ready addresses" if ready else "no ready address yet", detail,
                             sorted(backing, key=lambda n: n.name)))
    detail = f"{spec.get('type') or 'ClusterIP'} {spec.get('clusterIP') or ''} {ports}".strip()
    return _node(svc, "Service", verdict, detail, children)


def build(objs: Mapping[str, list[Obj]]) -> list[Node]:
    """Top-level trees of ``objs`` (resource plural → objects), sorted by namespace, kind, name."""
    def get(resource: str) -> list[Obj]:
        return list(objs.get(resource) or ())

    pods_of = _by_owner(get("pods"))
    rs_of = _by_owner(get("replicasets"))
    jobs_of = _by_owner(get("jobs"))
    roots: list[Node] = []
    for dep in get("deployments"):
        sets = [rs for rs in rs_of.get(_uid(dep), [])
                if ((rs.get("spec") or {}).get("replicas") or 0) > 0 or pods_of.get(_uid(rs))]
        all_sets = rs_of.get(_uid(dep), [])
        pods = [p for rs in all_sets for p in pods_of.get(_uid(rs), [])]
        verdict = health.assess(dep, related=health.Related(pods=pods, replicasets=all_sets))
        detail = f"{_replicas(dep)} · {_images(dep)}"
        roots.append(_node(dep, "Deployment", verdict, detail, [_replicaset(rs, pods_of) for rs in sets]))
    for kind, resource in (("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets")):
        roots += [_controller_with_pods(obj, kind, pods_of) for obj in get(resource)]
    owned_jobs = {_uid(j) for cj in get("cronjobs") for j in jobs_of.get(_uid(cj), [])}
    for cj in get("cronjobs"):
        jobs = [_controller_with_pods(j, "Job", pods_of) for j in jobs_of.get(_uid(cj), [])]
        schedule = str((cj.get("spec") or {}).get("schedule") or "")
        roots.append(_node(cj, "CronJob", health.assess(cj), schedule, jobs))
    roots += [_controller_with_pods(j, "Job", pods_of) for j in get("jobs") if _uid(j) not in owned_jobs]
    roots += [_replicaset(rs, pods_of) for rs in get("replicasets") if not _owners(rs)]
    endpoints = {(str(_meta(e).get("namespace") or ""), str(_meta(e).get("name") or "")): e for e in get("endpoints")}
    pods_by_name = {(str(_meta(p).get("namespace") or ""), str(_meta(p).get("name") or "")): p for p in get("pods")}
    for svc in get("services"):
        key = (str(_meta(svc).get("namespace") or ""), str(_meta(svc).get("name") or ""))
        roots.append(_service(svc, endpoints.get(key), pods_by_name))
    roots += [_pod(p) for p in get("pods") if not _owners(p)]
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return sorted(roots, key=lambda n: (n.namespace, order.get(n.kind, len(order)), n.name))

