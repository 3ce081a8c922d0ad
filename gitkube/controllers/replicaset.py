"""The ReplicaSet controller ("replicaset-controller"), after kube-controller-manager's
``pkg/controller/replicaset``.

``sync("ns/name")`` claims the pods of a ReplicaSet (adopting matching orphans, releasing
owned pods whose labels stopped matching), then, once its own earlier creations and
deletions have been observed in the pod cache (expectations), creates pods from the
template in slow-start batches or deletes the least valuable ones, and finally writes
status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (Ready for
minReadySeconds; the key comes back when the next pod becomes available),
observedGeneration and the ReplicaFailure condition. Terminating and finished pods do not
count. Also holds the pod predicates other controllers share (ready, active, available).
Started by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers.base import Controller, split_key

__all__ = [
    "Expectations",
    "ReplicaSetController",
    "calculate_status",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "next_available_in",
    "pods_to_delete",
    "ready_time",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

BURST_REPLICAS = 500
_EXPECTATIONS_TTL = 300.0
_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def is_pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True (podutil.IsPodReady)."""
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not terminating (controller.IsPodActive)."""
    return (str((pod.get("status") or {}).get("phase")) not in ("Succeeded", "Failed")
            and not (pod.get("metadata") or {}).get("deletionTimestamp"))


def ready_time(pod: Obj) -> dt.datetime | None:
    """When the pod last became Ready, if it is."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True" or not cond.get("lastTransitionTime"):
        return None
    return meta.parse_time(str(cond["lastTransitionTime"]))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_time(pod)
    now = now or dt.datetime.now(dt.UTC)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) < now


def next_available_in(pods: list[Obj], min_ready_seconds: int, now: dt.datetime | None = None) -> float | None:
    """Seconds until the next Ready-but-not-yet-available pod becomes available."""
    if min_ready_seconds <= 0:
        return None
    now = now or dt.datetime.now(dt.UTC)
    waits = [((since + dt.timedelta(seconds=min_ready_seconds)) - now).total_seconds()
             for p in pods if is_pod_ready(p) and (since := ready_time(p)) is not None
             and not is_pod_available(p, min_ready_seconds, now)]
    return max(min(waits), 0.0) + 1.0 if waits else None


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    stamp: float = field(default_factory=time.monotonic)


class Expectations:
    """client-go's UIDTrackingControllerExpectations: how many creations and which
    deletions of a controller are still to be seen in the cache."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        e = self._by_key.get(key)
        if e is None:
            return True
        return (e.adds <= 0 and not e.deletes) or time.monotonic() - e.stamp > _EXPECTATIONS_TTL

    def expect_creations(self, key: str, count: int) -> None:
        self._by_key[key] = _Expected(adds=count)

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self._by_key[key] = _Expected(deletes=set(pod_keys))

    def creation_observed(self, key: str, count: int = 1) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.adds -= count

    def deletion_observed(self, key: str, pod_key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)


def _is_assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _sort_key(pod: Obj, rank: int) -> tuple[Any, ...]:
    """Ascending = deleted first (controller.ActivePodsWithRanks without log-scale buckets)."""
    ready = is_pod_ready(pod)
    ready_since = ready_time(pod) if ready else None
    cost = 0
    try:
        cost = int(((pod.get("metadata") or {}).get("annotations") or {}).get(_DELETION_COST, "0"))
    except ValueError:
        pass
    restarts = max((int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []),
                   default=0)
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    created_ts = meta.parse_time(created).timestamp() if created else float("inf")
    return (
        _is_assigned(pod),
        _PHASE_RANK.get(str((pod.get("status") or {}).get("phase")), 0),
        ready,
        cost,
        -rank,
        -(ready_since.timestamp() if ready_since else float("inf")),
        -restarts,
        -created_ts,
    )


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int) -> list[Obj]:
    """The ``count`` pods a ReplicaSet removes first: unscheduled, then Pending < Unknown <
    Running, not-ready, lower deletion cost, doubled up on a node with related pods, ready
    for a shorter time, more restarts, newer."""
    if count >= len(pods):
        return list(pods)
    per_node = Counter(str(p["spec"].get("nodeName")) for p in related if _is_assigned(p) and is_pod_active(p))
    ranked = sorted(pods, key=lambda p: _sort_key(p, per_node[str(p["spec"].get("nodeName"))] if _is_assigned(p) else 0))
    return ranked[:count]


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    workers = 5
    kind = "ReplicaSet"
    api_version = "apps/v1"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(client, informers=informers)
        self.burst_replicas = burst_replicas
        self.expectations = Expectations()
        self.sets = self.informer("replicasets")
        self.pods = self.informer("pods")
        self.sets.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self._set_deleted))
        self.pods.add_handler(Handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _set_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = meta.controller_ref(pod)
        if not ref or ref.get("kind") != self.kind:
            return None
        ns = pod["metadata"].get("namespace")
        rs = self.sets.get(ns, str(ref.get("name")))
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return f"{ns}/{ref['name']}"

    def _enqueue_matching(self, pod: Obj) -> None:
        labels = meta.labels_of(pod)
        for rs in self.sets.list(pod["metadata"].get("namespace")):
            sel = selectors.from_label_selector_spec((rs.get("spec") or {}).get("selector"))
            if not sel.empty and sel.matches(labels):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif meta.controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self._pod_deleted(new)
            return
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if old_key and old_key != new_key:
            self.queue.add(old_key)
        if new_key:
            self.queue.add(new_key)
        elif meta.controller_ref(new) is None and (meta.labels_of(old) != meta.labels_of(new) or old_key):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        rs = self.sets.get(ns, name)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = selectors.from_label_selector_spec((rs.get("spec") or {}).get("selector"))
        active = [p for p in self.pods.list(ns) if is_pod_active(p)]
        pods = await self._claim_pods(rs, selector, active)
        failure: errors.APIError | None = None
        diff = len(pods) - _replicas(rs)
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            failure = await self._manage_replicas(key, rs, pods, diff)
        status = calculate_status(rs, pods, failure, diff)
        await self._write_status(rs, status)
        if failure is None:
            wait = next_available_in(pods, _min_ready(rs))
            if wait is not None:
                self.queue.add_after(key, wait)
        if failure is not None:
            raise failure

    async def _claim_pods(self, rs: Obj, selector: selectors.LabelSelector, pods: list[Obj]) -> list[Obj]:
        uid = rs["metadata"]["uid"]
        deleting = bool(rs["metadata"].get("deletionTimestamp"))
        claimed: list[Obj] = []
        for pod in pods:
            ref = meta.controller_ref(pod)
            matches = not selector.empty and selector.matches(meta.labels_of(pod))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches:
                    claimed.append(pod)
                elif not deleting:
                    await self._release(rs, pod)
                continue
            if deleting or not matches or pod["metadata"].get("deletionTimestamp"):
                continue
            adopted = await self._adopt(rs, pod)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    def _owner_ref(self, rs: Obj) -> Obj:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": rs["metadata"]["name"],
                "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    async def _adopt(self, rs: Obj, pod: Obj) -> Obj | None:
        m = pod["metadata"]
        fresh = await self.client.get("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])
        if fresh["metadata"].get("uid") != rs["metadata"]["uid"] or fresh["metadata"].get("deletionTimestamp"):
            return None
        refs = list(m.get("ownerReferences") or []) + [self._owner_ref(rs)]
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": m.get("resourceVersion")},
               {"op": "add", "path": "/metadata/ownerReferences", "value": refs}]
        try:
            return await self.client.patch("pods", m["name"], ops, m["namespace"], patch_type="json")
        except (errors.NotFound, errors.Conflict, errors.Invalid) as exc:
            log.info("%s: cannot adopt pod %s/%s: %s", self.name, m["namespace"], m["name"], exc)
            return None

    async def _release(self, rs: Obj, pod: Obj) -> None:
        m = pod["metadata"]
        refs = [r for r in m.get("ownerReferences") or [] if r.get("uid") != rs["metadata"]["uid"]]
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": m.get("resourceVersion")},
               {"op": "replace", "path": "/metadata/ownerReferences", "value": refs}]
        try:
            await self.client.patch("pods", m["name"], ops, m["namespace"], patch_type="json")
        except errors.NotFound:
            pass

    async def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj], diff: int) -> errors.APIError | None:
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            created, failure = await self._create_in_batches(rs, count)
            if created < count:
                self.expectations.creation_observed(key, count - created)
            return failure
        if diff > 0:
            count = min(diff, self.burst_replicas)
            victims = pods_to_delete(pods, self._related_pods(rs, pods), count)
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod(key, rs, p) for p in victims))
            return next((r for r in results if r is not None), None)
        return None

    def _related_pods(self, rs: Obj, own: list[Obj]) -> list[Obj]:
        """The pods of every ReplicaSet with the same controller (a Deployment's sets)."""
        owner = meta.controller_ref(rs)
        if owner is None:
            return own
        ns = rs["metadata"]["namespace"]
        siblings = {s["metadata"]["uid"] for s in self.sets.list(ns)
                    if (meta.controller_ref(s) or {}).get("uid") == owner.get("uid")}
        return [p for p in self.pods.list(ns) if (meta.controller_ref(p) or {}).get("uid") in siblings]

    async def _create_in_batches(self, rs: Obj, count: int) -> tuple[int, errors.APIError | None]:
        """controller.slowStartBatch: batches of 1, 2, 4 ... stopping at the first failure."""
        created, batch = 0, 1
        while created < count:
            size = min(batch, count - created)
            results = await asyncio.gather(*(self._create_pod(rs) for _ in range(size)))
            created += sum(1 for r in results if r is None)
            failure = next((r for r in results if r is not None), None)
            if failure is not None:
                return created, failure
            batch *= 2
        return created, None

    def _pod_from_template(self, rs: Obj) -> Obj:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        tm = template.get("metadata") or {}
        md: Obj = {"generateName": f"{rs['metadata']['name']}-", "namespace": rs["metadata"]["namespace"],
                   "ownerReferences": [self._owner_ref(rs)]}
        for fld in ("labels", "annotations", "finalizers"):
            if tm.get(fld):
                md[fld] = tm[fld]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}

    async def _create_pod(self, rs: Obj) -> errors.APIError | None:
        try:
            pod = await self.client.create("pods", self._pod_from_template(rs), rs["metadata"]["namespace"])
        except errors.APIError as exc:
            if "because it is being terminated" in exc.message:
                return None
            self.events.record(rs, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return exc
        self.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        return None

    async def _delete_pod(self, key: str, rs: Obj, pod: Obj) -> errors.APIError | None:
        m = pod["metadata"]
        try:
            await self.client.delete("pods", m["name"], m["namespace"], uid=m.get("uid"))
        except errors.NotFound:
            self.expectations.deletion_observed(key, key_of(pod))
            return None
        except errors.APIError as exc:
            self.expectations.deletion_observed(key, key_of(pod))
            self.events.record(rs, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            return exc
        self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")
        return None

    async def _write_status(self, rs: Obj, status: Obj) -> None:
        if (rs.get("status") or {}) == status:
            return
        fresh = copy.deepcopy(rs)
        for _ in range(2):
            fresh["status"] = status
            try:
                await self.client.update_status("replicasets", fresh)
                return
            except errors.Conflict:
                fresh = await self.client.get("replicasets", rs["metadata"]["name"], rs["metadata"]["namespace"])
                if fresh["metadata"].get("uid") != rs["metadata"]["uid"]:
                    return
            except errors.NotFound:
                return
        fresh["status"] = status
        await self.client.update_status("replicasets", fresh)


def _replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _min_ready(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("minReadySeconds") or 0)


def calculate_status(rs: Obj, pods: list[Obj], failure: errors.APIError | None, diff: int,
                     now: dt.datetime | None = None) -> Obj:
    """The ReplicaSet status for its claimed active pods, as calculateStatus writes it
    (zero counts omitted, as Go's ``omitempty`` does)."""
    template_labels = ((((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    min_ready = _min_ready(rs)
    fully = sum(1 for p in pods if template_labels.items() <= meta.labels_of(p).items())
    ready = sum(1 for p in pods if is_pod_ready(p))
    available = sum(1 for p in pods if is_pod_available(p, min_ready, now))
    status: Obj = {"replicas": len(pods)}
    for name, value in (("fullyLabeledReplicas", fully), ("readyReplicas", ready), ("availableReplicas", available),
                        ("observedGeneration", int(rs["metadata"].get("generation") or 0))):
        if value:
            status[name] = value
    existing = list((rs.get("status") or {}).get("conditions") or [])
    conditions = [c for c in existing if c.get("type") != "ReplicaFailure"]
    old = next((c for c in existing if c.get("type") == "ReplicaFailure"), None)
    if failure is not None:
        reason = "FailedDelete" if diff > 0 else "FailedCreate"
        if old is not None and old.get("reason") == reason and old.get("message") == failure.message:
            conditions.append(old)
        else:
            conditions.append({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": meta.now(),
                               "reason": reason, "message": failure.message})
    if conditions:
        status["conditions"] = conditions
    return status
