"""The DaemonSet controller ("daemonset-controller"), after kube-controller-manager's
``pkg/controller/daemon``.

``sync("ns/name")`` claims the DaemonSet's pods (adopting matching orphans, releasing owned
pods whose labels stopped matching), finds or creates the ControllerRevision of its current
template (whose ``controller-revision-hash`` labels the new pods), then, once its earlier
creations and deletions were seen in the pod cache (expectations):

1. makes every eligible node (:func:`.nodes.should_run`) run exactly one daemon pod, pinned
   to it by a ``metadata.name`` node affinity term for the scheduler to bind, and removes
   pods from nodes that may no longer run them (:func:`.plan.manage`); failed pods are
   deleted with a per-node exponential backoff (1 s doubling to 15 min);
2. with ``updateStrategy: RollingUpdate`` replaces old pods within ``maxUnavailable`` or
   ``maxSurge`` (:func:`.plan.rolling_update`); ``OnDelete`` replaces a pod only when the
   user deletes it;
3. prunes old revisions beyond ``revisionHistoryLimit``,

and finally writes the status (:func:`.plan.calculate_status`) that ``kubectl rollout
status ds/NAME`` reads. ``kubectl rollout undo`` patches the template back from a revision;
the next sync finds that revision equal to the template and renumbers it as the newest.
Started by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers import history
from gitkube.controllers.base import Controller, resolve_controller_ref, selecting, split_key
from gitkube.controllers.daemonset import plan, revisions
from gitkube.controllers.daemonset.nodes import new_pod, target_node
from gitkube.controllers.expectations import Expectations
from gitkube.controllers.history import CONTROLLER_REVISION_HASH
from gitkube.controllers.podcontrol import PodControl
from gitkube.controllers.replicaset import next_available_in

__all__ = ["DaemonSetController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Clock = Callable[[], dt.datetime]

_BACKOFF_BASE = 1.0
_BACKOFF_MAX = 900.0
BURST_REPLICAS = 250


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DaemonSetController(Controller):
    name = "daemonset-controller"
    workers = 2
    kind = "DaemonSet"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 clock: Clock = _utcnow) -> None:
        super().__init__(client, informers=informers)
        self.clock = clock
        self.expectations = Expectations()
        self.pods_ctl = PodControl(client, self.events, self.expectations)
        self._backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (ds key, node) -> (until, delay)
        self.sets = self.informer("daemonsets")
        self.pods = self.informer("pods")
        self.nodes = self.informer("nodes")
        self.revisions = self.informer(history.RESOURCE)
        self.sets.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self._set_deleted))
        self.pods.add_handler(Handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted))
        self.nodes.add_handler(Handler(on_add=lambda _n: self._enqueue_all(), on_update=self._node_updated,
                                       on_delete=lambda _n: self._enqueue_all()))
        self.revisions.add_handler(Handler(on_add=self._revision_changed, on_update=lambda _o, n: self._revision_changed(n),
                                           on_delete=self._revision_changed))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _set_deleted(self, ds: Obj) -> None:
        self.expectations.forget(key_of(ds))
        self.enqueue(ds)

    def _enqueue_all(self) -> None:
        for ds in self.sets.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if meta.labels_of(old) != meta.labels_of(new) or old.get("spec") != new.get("spec"):
            self._enqueue_all()

    def _revision_changed(self, rev: Obj) -> None:
        self.enqueue_owner(rev, self.kind)

    def _owner_key(self, pod: Obj) -> str | None:
        owner = resolve_controller_ref(pod, self.kind, self.sets)
        return key_of(owner) if owner is not None else None

    def _enqueue_matching(self, pod: Obj) -> None:
        for ds in selecting(pod, self.sets):
            self.enqueue(ds)

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
        elif meta.controller_ref(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        ds = self.sets.get(ns, name)
        if ds is None:
            self.expectations.forget(key)
            self._backoff = {k: v for k, v in self._backoff.items() if k[0] != key}
            return
        if ds["metadata"].get("deletionTimestamp"):
            return
        ds = copy.deepcopy(ds)
        nodes = self.nodes.list()
        pods = await self._claim_pods(ds)
        node_pods = _by_node(pods)
        owned = history.owned_revisions(self.revisions.list(ns), ds)
        current, old = await revisions.construct_history(self.client, ds, owned)
        hash_ = str((current["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) or "")
        now = self.clock()
        if not self.expectations.satisfied(key):
            await self._write_status(ds, plan.calculate_status(ds, nodes, node_pods, hash_, now, observe=False))
            return
        failure = await self._manage(key, ds, nodes, node_pods, hash_, now)
        if failure is None and self.expectations.satisfied(key) and _is_rolling(ds):
            delete, create_on = plan.rolling_update(ds, nodes, node_pods, hash_, now)
            failure = await self._sync_nodes(key, ds, create_on, delete, hash_)
        await revisions.cleanup_history(self.client, ds, old, pods)
        await self._write_status(ds, plan.calculate_status(ds, nodes, node_pods, hash_, now, observe=True))
        wait = next_available_in([p for ps in node_pods.values() for p in ps], plan.min_ready_seconds(ds), now)
        if wait is not None:
            self.queue.add_after(key, wait)
        if failure is not None:
            raise failure

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], node_pods: plan.NodePods, hash_: str,
                      now: dt.datetime) -> errors.APIError | None:
        steps = plan.manage(ds, nodes, node_pods, hash_, now)
        delete = list(steps.delete)
        mono = time.monotonic()
        for node, pod in steps.failed:
            until, delay = self._backoff.get((key, node), (0.0, 0.0))
            if mono < until:
                self.queue.add_after(key, until - mono)
                continue
            delay = min(max(delay * 2, _BACKOFF_BASE), _BACKOFF_MAX)
            self._backoff[(key, node)] = (mono + delay, delay)
            self.events.record(ds, "Warning", "FailedDaemonPod",
                               f"Found failed daemon pod {pod['metadata']['namespace']}/{pod['metadata']['name']} "
                               f"on node {node}, will try to kill it")
            delete.append(pod)
        return await self._sync_nodes(key, ds, steps.create_on, delete, hash_)

    async def _sync_nodes(self, key: str, ds: Obj, create_on: list[str], delete: list[Obj],
                          hash_: str) -> errors.APIError | None:
        """``syncNodes``: create pods on ``create_on`` in slow-start batches, delete ``delete``."""
        create_on, delete = create_on[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create_on and not delete:
            return None
        self.expectations.expect(key, len(create_on), [key_of(p) for p in delete])
        _, failure = await self.pods_ctl.create_batches(key, ds, [new_pod(ds, node, hash_) for node in create_on])
        results = await self.pods_ctl.delete_all(key, ds, delete)
        return failure or next((r for r in results if r is not None), None)

    # -- pods the DaemonSet owns ----------------------------------------------------------

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        """Adopt matching orphans, release owned pods that stopped matching; the owned rest."""
        uid = ds["metadata"]["uid"]
        selector = selectors.from_label_selector_spec((ds.get("spec") or {}).get("selector"))
        claimed: list[Obj] = []
        for pod in self.pods.list(ds["metadata"]["namespace"]):
            ref = meta.controller_ref(pod)
            matches = not selector.empty and selector.matches(meta.labels_of(pod))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches:
                    claimed.append(pod)
                else:
                    await self._set_owners(pod, [r for r in pod["metadata"].get("ownerReferences") or []
                                                 if r.get("uid") != uid])
                continue
            if matches and not pod["metadata"].get("deletionTimestamp"):
                fresh = await self.client.get("daemonsets", ds["metadata"]["name"], ds["metadata"]["namespace"])
                if fresh["metadata"].get("uid") != uid or fresh["metadata"].get("deletionTimestamp"):
                    continue
                refs = list(pod["metadata"].get("ownerReferences") or []) + [history.controller_ref(ds, self.kind)]
                adopted = await self._set_owners(pod, refs)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    async def _set_owners(self, pod: Obj, refs: list[Obj]) -> Obj | None:
        m = pod["metadata"]
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": m.get("resourceVersion")},
               {"op": "add", "path": "/metadata/ownerReferences", "value": refs}]
        try:
            return await self.client.patch("pods", m["name"], ops, m["namespace"], patch_type="json")
        except (errors.NotFound, errors.Conflict, errors.Invalid) as exc:
            log.info("%s: cannot change the owners of pod %s/%s: %s", self.name, m["namespace"], m["name"], exc)
            return None

    async def _write_status(self, ds: Obj, status: Obj) -> None:
        if (ds.get("status") or {}) == status:
            return
        fresh = copy.deepcopy(ds)
        for _ in range(3):
            fresh["status"] = {**status, **{k: v for k, v in (fresh.get("status") or {}).items()
                                            if k == "collisionCount"}}
            try:
                await self.client.update_status("daemonsets", fresh)
                return
            except errors.Conflict:
                fresh = await self.client.get("daemonsets", ds["metadata"]["name"], ds["metadata"]["namespace"])
                if fresh["metadata"].get("uid") != ds["metadata"]["uid"]:
                    return
            except errors.NotFound:
                return
        raise errors.Conflict(f'daemonsets.apps "{ds["metadata"]["name"]}": status update kept conflicting')


def _is_rolling(ds: Obj) -> bool:
    return bool(((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def _by_node(pods: list[Obj]) -> plan.NodePods:
    """``getNodesToDaemonPods``: pods by target node, without deleted finished pods."""
    out: plan.NodePods = {}
    for pod in pods:
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if finished and pod["metadata"].get("deletionTimestamp"):
            continue
        node = target_node(pod)
        if node:
            out.setdefault(node, []).append(pod)
    return out
