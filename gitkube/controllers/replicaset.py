"""The ReplicaSet controller ("replicaset-controller"), after kube-controller-manager's
``pkg/controller/replicaset``.

``sync("ns/name")`` claims the pods of a ReplicaSet (adopting matching orphans, releasing
owned pods whose labels stopped matching), then, once its own earlier creations and
deletions have been observed in the pod cache (expectations), creates pods from the
template in slow-start batches or deletes the least valuable ones, and finally writes
status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (Ready for
minReadySeconds; the key comes back when the next pod becomes available),
observedGeneration and the ReplicaFailure condition. Terminating and finished pods do not
count. The pod predicates other controllers share (ready, active, available) live in
:mod:`gitkube.controllers.podfacts` and are re-exported here.
Started by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers.base import Controller, resolve_controller_ref, selecting, split_key
from gitkube.controllers.expectations import Expectations
from gitkube.controllers.podcontrol import PodControl
from gitkube.controllers.podfacts import (
    BY_CONTROLLER,
    ORPHANS,
    PodFacts,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    next_available_in,
    pod_facts,
    pods_to_delete,
    ready_time,
)
from gitkube.controllers.podfacts import controller_uid_index as _controller_uid
from gitkube.controllers.podfacts import orphan_namespace_index as _orphan_namespace

__all__ = [
    "Expectations",
    "PodFacts",
    "ReplicaSetController",
    "calculate_status",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "next_available_in",
    "pod_facts",
    "pods_to_delete",
    "ready_time",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

BURST_REPLICAS = 500
# Pod events that cannot unblock a creation or deletion (they only change the counts in the
# status) are batched for this long, as kube-controller-manager's endpoint controllers batch
# with --endpoint-updates-batch-period: one sync, one status write for a burst of readiness
# changes instead of one per pod.
STATUS_BATCH_PERIOD = 0.05


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    workers = 5
    kind = "ReplicaSet"
    api_version = "apps/v1"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 burst_replicas: int = BURST_REPLICAS, status_batch_period: float = STATUS_BATCH_PERIOD) -> None:
        super().__init__(client, informers=informers)
        self.burst_replicas = burst_replicas
        self.status_batch_period = status_batch_period
        self.expectations = Expectations()
        self.pods_ctl = PodControl(client, self.events, self.expectations)
        self.sets = self.informer("replicasets")
        self.pods = self.informer("pods")
        self.pods.add_indexer(ORPHANS, _orphan_namespace)
        self.sets.add_indexer(BY_CONTROLLER, _controller_uid)
        # controller uid -> pod uid -> facts: every cached pod with a controller, kept by the
        # pod handlers, so a sync reads its own pods' precomputed facts and scans nothing else.
        self._owned: dict[str, dict[str, PodFacts]] = {}
        self.sets.add_handler(Handler(on_add=self.enqueue, on_update=self._set_updated,
                                      on_delete=self._set_deleted))
        self.pods.add_handler(Handler(on_add=self._on_pod_add, on_update=self._on_pod_update,
                                      on_delete=self._on_pod_delete))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _set_updated(self, old: Obj, new: Obj) -> None:
        """Re-sync unless only the status changed (mostly this controller's own write)."""
        if _without_status(old) != _without_status(new):
            self.enqueue(new)

    def _set_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: Obj) -> str | None:
        owner = resolve_controller_ref(pod, self.kind, self.sets)
        return key_of(owner) if owner is not None else None

    def _enqueue_matching(self, pod: Obj) -> None:
        for rs in selecting(pod, self.sets):
            self.enqueue(rs)

    # pod facts bookkeeping, then the enqueue logic

    def _track(self, pod: Obj) -> tuple[PodFacts | None, PodFacts]:
        """Record the facts of ``pod``'s current version; returns (previous, current)."""
        facts = pod_facts(pod)
        uid = str(pod["metadata"].get("uid"))
        previous = self._untrack(pod)  # the same version again (a re-list): nothing changed
        if facts.controller_uid is not None:
            self._owned.setdefault(facts.controller_uid, {})[uid] = facts
        return previous, facts

    def _untrack(self, pod: Obj) -> PodFacts | None:
        owner = _controller_uid(pod)
        bucket = self._owned.get(owner[0]) if owner else None
        if bucket is None:
            return None
        previous = bucket.pop(str(pod["metadata"].get("uid")), None)
        if not bucket:
            del self._owned[owner[0]]
        return previous

    def _on_pod_add(self, pod: Obj) -> None:
        self._track(pod)
        self._pod_added(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        previous = self._untrack(old)
        _, current = self._track(new)
        if (previous is not None and not new["metadata"].get("deletionTimestamp")
                and previous.controller_uid == current.controller_uid and previous.labels == current.labels
                and previous.active == current.active):
            if (previous.ready, previous.ready_since) != (current.ready, current.ready_since):
                key = self._owner_key(new)
                if key is not None:  # only the status counts change: batched
                    self.queue.add_after(key, self.status_batch_period)
            return  # else e.g. a binding, or a status write that leaves it (not) ready: nothing to do
        self._pod_updated(old, new)

    def _on_pod_delete(self, pod: Obj) -> None:
        self._untrack(pod)
        self._pod_deleted(pod)

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self._enqueue_batched(key)
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
            self._enqueue_batched(new_key)
        elif meta.controller_ref(new) is None and (meta.labels_of(old) != meta.labels_of(new) or old_key):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self._enqueue_batched(key)

    def _enqueue_batched(self, key: str) -> None:
        """Sync now if the set waits for nothing more (it may act), else within the batch period."""
        if self.expectations.satisfied(key):
            self.queue.add(key)
        else:
            self.queue.add_after(key, self.status_batch_period)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        rs = self.sets.get(ns, name)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = selectors.from_label_selector_spec((rs.get("spec") or {}).get("selector"))
        # Only this set's pods and the orphans can be claimed: nothing else is looked at.
        owned = self._owned.get(str(rs["metadata"]["uid"]))
        active = [f for f in owned.values() if f.active] if owned else []
        active += [pod_facts(p) for p in self.pods.by_index(ORPHANS, str(ns)) if is_pod_active(p)]
        claimed = await self._claim_pods(rs, selector, active)
        pods = [f.obj for f in claimed]
        failure: errors.APIError | None = None
        diff = len(pods) - _replicas(rs)
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            failure = await self._manage_replicas(key, rs, pods, diff)
        status = _status_of(rs, claimed, failure, diff)
        await self._write_status(rs, status)
        if failure is None and _min_ready(rs) > 0:
            wait = next_available_in(pods, _min_ready(rs))
            if wait is not None:
                self.queue.add_after(key, wait)
        if failure is not None:
            raise failure

    async def _claim_pods(self, rs: Obj, selector: selectors.LabelSelector, pods: list[PodFacts]) -> list[PodFacts]:
        uid = rs["metadata"]["uid"]
        deleting = bool(rs["metadata"].get("deletionTimestamp"))
        matcher = _matcher(selector)
        claimed: list[PodFacts] = []
        for facts in pods:
            owner_uid = facts.controller_uid
            matches = matcher(facts.labels)
            if owner_uid is not None:
                if owner_uid != uid:
                    continue
                if matches:
                    claimed.append(facts)
                elif not deleting:
                    await self._release(rs, facts.obj)
                continue
            if deleting or not matches or facts.obj["metadata"].get("deletionTimestamp"):
                continue
            adopted = await self._adopt(rs, facts.obj)
            if adopted is not None:
                claimed.append(pod_facts(adopted))
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
            pod = self._pod_from_template(rs)
            _, failure = await self.pods_ctl.create_batches(key, rs, [pod] * count)
            return failure
        if diff > 0:
            count = min(diff, self.burst_replicas)
            victims = pods_to_delete(pods, self._related_pods(rs, pods), count)
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            results = await self.pods_ctl.delete_all(key, rs, victims)
            return next((r for r in results if r is not None), None)
        return None

    def _related_pods(self, rs: Obj, own: list[Obj]) -> list[Obj]:
        """The pods of every ReplicaSet with the same controller (a Deployment's sets)."""
        owner = meta.controller_ref(rs)
        if owner is None:
            return own
        ns = rs["metadata"]["namespace"]
        siblings = {s["metadata"]["uid"] for s in self.sets.by_index(BY_CONTROLLER, str(owner.get("uid")))
                    if s["metadata"].get("namespace") == ns}
        return [f.obj for uid in siblings for f in (self._owned.get(str(uid)) or {}).values()]

    def _pod_from_template(self, rs: Obj) -> Obj:
        # Shared with the cache, not copied: the object is only serialised.
        template = (rs.get("spec") or {}).get("template") or {}
        tm = template.get("metadata") or {}
        md: Obj = {"generateName": f"{rs['metadata']['name']}-", "namespace": rs["metadata"]["namespace"],
                   "ownerReferences": [self._owner_ref(rs)]}
        for fld in ("labels", "annotations", "finalizers"):
            if tm.get(fld):
                md[fld] = tm[fld]
        return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}

    async def _write_status(self, rs: Obj, status: Obj) -> None:
        """PUT the status without a resourceVersion precondition (the controller owns the
        status and computes all of it; the cache often lags its own last write, which
        would make a precondition fail for nothing), pinned to the set's uid."""
        if (rs.get("status") or {}) == status:
            return
        md = {k: v for k, v in rs["metadata"].items() if k not in ("resourceVersion", "managedFields")}
        try:
            await self.client.update_status("replicasets", {**rs, "metadata": md, "status": status})
        except (errors.Conflict, errors.NotFound):
            return  # replaced by a set of the same name, or gone


def _replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _min_ready(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("minReadySeconds") or 0)


def _without_status(obj: Obj) -> Obj:
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": md}


def _matcher(selector: selectors.LabelSelector) -> Callable[[Mapping[str, str]], bool]:
    """``selector.matches`` (False for the empty selector), as a subset test for the usual
    matchLabels-only selector."""
    if selector.empty:
        return lambda _labels: False
    if all(r.operator == "=" for r in selector.requirements):
        wanted = {r.key: r.values[0] for r in selector.requirements}.items()
        return lambda labels: wanted <= labels.items()
    return selector.matches


def calculate_status(rs: Obj, pods: list[Obj], failure: errors.APIError | None, diff: int,
                     now: dt.datetime | None = None) -> Obj:
    """The ReplicaSet status for its claimed active pods, as calculateStatus writes it
    (zero counts omitted, as Go's ``omitempty`` does)."""
    return _status_of(rs, [pod_facts(p) for p in pods], failure, diff, now)


def _status_of(rs: Obj, views: list[PodFacts], failure: errors.APIError | None, diff: int,
               now: dt.datetime | None = None) -> Obj:
    template_labels = ((((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    min_ready = _min_ready(rs)
    wanted = template_labels.items()
    fully = sum(1 for f in views if wanted <= f.labels.items())
    ready = sum(1 for f in views if f.ready)
    if min_ready <= 0:
        available = ready
    else:
        limit = (now or dt.datetime.now(dt.UTC)).timestamp() - min_ready
        available = sum(1 for f in views if f.ready and f.ready_since is not None and f.ready_since < limit)
    status: Obj = {"replicas": len(views)}
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
