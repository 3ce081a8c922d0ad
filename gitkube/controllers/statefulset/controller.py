"""The StatefulSet controller ("statefulset-controller"), after kube-controller-manager's
``pkg/controller/statefulset``.

``sync("ns/name")``:

1. claims the set's pods: owned pods whose labels still match the selector and whose name is
   ``<set>-<ordinal>`` are kept, owned ones that stopped matching are released, matching
   orphans with such a name are adopted;
2. finds the revisions (ControllerRevisions owned by the set, through
   :mod:`gitkube.controllers.history`): the update revision is the one whose data equals the
   current template (an older equal one is renumbered to roll back; else one is created), the
   current revision is the one ``status.currentRevision`` names (the update one at first);
3. runs one :class:`~gitkube.controllers.statefulset.control.SetControl` step (ordered or
   parallel creation and deletion, rolling update with partition, claims from
   ``volumeClaimTemplates``);
4. writes the status (replicas, readyReplicas, currentReplicas, updatedReplicas,
   availableReplicas, currentRevision, updateRevision, observedGeneration, collisionCount)
   and keeps ``revisionHistoryLimit`` revisions besides those still in use.

Pod events enqueue the owning set (or, for orphans, every set whose selector matches). Started
by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from gitkube import errors
from gitkube.api import meta, selectors
from gitkube.client import Client, Handler, Informer
from gitkube.controllers import history
from gitkube.controllers.base import Controller, selecting, split_key
from gitkube.controllers.replicaset import next_available_in
from gitkube.controllers.statefulset import identity as ident
from gitkube.controllers.statefulset.control import SetControl, StepInput
from gitkube.controllers.statefulset.status import compute_status, same_status

__all__ = ["StatefulSetController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KIND = "StatefulSet"


class StatefulSetController(Controller):
    name = "statefulset-controller"
    workers = 3

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None) -> None:
        super().__init__(client, informers=informers)
        self.sets = self.informer("statefulsets")
        self.pods = self.informer("pods")
        self.revisions = self.informer(history.RESOURCE)
        self.claims = self.informer("persistentvolumeclaims")
        self.control = SetControl(client, self.events, self.claims)
        self.sets.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self.enqueue))
        self.pods.add_handler(Handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed))
        self.revisions.add_handler(Handler(on_add=lambda r: self.enqueue_owner(r, KIND),
                                           on_delete=lambda r: self.enqueue_owner(r, KIND)))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        ref = meta.controller_ref(pod)
        if ref is not None:
            self.enqueue_owner(pod, KIND)
            return
        for sts in selecting(pod, self.sets):
            self.enqueue(sts)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        self._pod_changed(new)
        if meta.controller_ref(old) != meta.controller_ref(new):
            self._pod_changed(old)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        sts = self.sets.get(ns, name)
        if sts is None:
            return
        selector = selectors.from_label_selector_spec((sts.get("spec") or {}).get("selector"))
        pods = await self._claim_pods(sts, selector)
        revisions = history.owned_revisions(self.revisions.list(ns), sts)
        current, update, collisions = await self._revisions(sts, revisions)
        step = await self.control.step(StepInput(
            sts=sts, current_set=ident.apply_revision(sts, current), update_set=ident.apply_revision(sts, update),
            current_revision=current["metadata"]["name"], update_revision=update["metadata"]["name"], pods=pods))
        status = compute_status(sts, step.pods, current["metadata"]["name"], update["metadata"]["name"], collisions)
        await self._write_status(sts, status)
        await self._truncate_history(sts, step.pods, revisions, current, update)
        if step.errors:
            raise step.errors[0]
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        wait = next_available_in(step.pods, min_ready)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _claim_pods(self, sts: Obj, selector: selectors.LabelSelector) -> list[Obj]:
        uid = sts["metadata"]["uid"]
        deleting = bool(sts["metadata"].get("deletionTimestamp"))
        claimed: list[Obj] = []
        for pod in self.pods.list(sts["metadata"]["namespace"]):
            ref = meta.controller_ref(pod)
            matches = (not selector.empty and selector.matches(meta.labels_of(pod))
                       and ident.parent_name(pod) == sts["metadata"]["name"])
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches:
                    claimed.append(pod)
                elif not deleting:
                    await self._set_owner(pod, [r for r in pod["metadata"].get("ownerReferences") or []
                                                if r.get("uid") != uid])
                continue
            if deleting or not matches or pod["metadata"].get("deletionTimestamp"):
                continue
            refs = [*(pod["metadata"].get("ownerReferences") or []), history.controller_ref(sts, KIND)]
            adopted = await self._set_owner(pod, refs)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _set_owner(self, pod: Obj, refs: list[Obj]) -> Obj | None:
        m = pod["metadata"]
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": m.get("resourceVersion")},
               {"op": "replace" if "ownerReferences" in m else "add", "path": "/metadata/ownerReferences",
                "value": refs}]
        try:
            return await self.client.patch("pods", m["name"], ops, m["namespace"], patch_type="json")
        except (errors.NotFound, errors.Conflict, errors.Invalid) as exc:
            log.info("%s: cannot change the owner of pod %s/%s: %s", self.name, m["namespace"], m["name"], exc)
            return None

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """``getStatefulSetRevisions``: the current and update revisions and the collision count."""
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        template_labels = ((((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
        candidate = history.new_revision(sts, KIND, template_labels, ident.revision_data(sts),
                                         history.max_revision(revisions) + 1, collisions)
        equal = history.find_equal_revisions(revisions, candidate)
        if equal and revisions and history.equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            update = await history.update_revision_number(self.client, equal[-1], int(candidate["revision"]))
        else:
            update, collisions = await history.create_revision(self.client, sts, candidate, collisions)
        current = next((r for r in revisions if r["metadata"]["name"] == status.get("currentRevision")), update)
        return current, update, collisions

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        if same_status(sts.get("status") or {}, status):
            return
        fresh = copy.deepcopy(sts)
        for _ in range(3):
            fresh["status"] = status
            try:
                await self.client.update_status("statefulsets", fresh)
                return
            except errors.Conflict:
                fresh = await self.client.get("statefulsets", sts["metadata"]["name"], sts["metadata"]["namespace"])
                if fresh["metadata"].get("uid") != sts["metadata"]["uid"]:
                    return
            except errors.NotFound:
                return

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: Obj,
                                update: Obj) -> None:
        """Delete the oldest revisions no pod uses beyond ``revisionHistoryLimit``."""
        live = {current["metadata"]["name"], update["metadata"]["name"]} | {ident.pod_revision(p) for p in pods}
        old = [r for r in revisions if r["metadata"]["name"] not in live]
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
        for revision in old[:max(len(old) - limit, 0)]:
            await history.delete_revision(self.client, revision)
