"""One step of a StatefulSet towards its spec (``defaultStatefulSetControl.updateStatefulSet``).

:meth:`SetControl.step` sorts the claimed pods into the replica slots ``start..start+replicas-1``
and the condemned rest (highest ordinal first), then:

1. per slot in ordinal order: a Failed or Succeeded pod is deleted (recreated next time); a
   missing pod is created (its PersistentVolumeClaims first, from ``volumeClaimTemplates``,
   kept if they exist); with ``OrderedReady`` the step stops at a pod just created, a
   terminating pod, or one not Running+Ready (Available with ``minReadySeconds``), so pods
   come up one at a time in order; ``Parallel`` goes on. A live pod missing its claims gets
   them; a pod whose identity labels drifted gets them back.
2. condemned pods are deleted from the highest ordinal down; with ``OrderedReady`` one at a
   time, waiting for it to be gone, and not while another pod is unhealthy. Their claims stay
   (``whenScaled: Retain``) or get the pod as owner, so the garbage collector removes them
   with it (``whenScaled: Delete``).
3. ``RollingUpdate``: from the highest ordinal down to the partition, the first pod not at the
   update revision is deleted (one at a time; it comes back at the new revision) and the
   step waits for each updated pod to be healthy. ``OnDelete`` replaces only pods users delete.

Returns the pods as they now are (created ones included) for the status. Deletions carry the
pod's uid as precondition, so a stale cache never deletes a pod's successor. Used by
:class:`gitkube.controllers.statefulset.controller.StatefulSetController`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gitkube import errors
from gitkube.client import Client, EventRecorder, Informer
from gitkube.controllers import history
from gitkube.controllers.statefulset import identity as ident

__all__ = ["SetControl", "StepInput", "StepResult"]

Obj = dict[str, Any]


@dataclass
class StepInput:
    sts: Obj
    current_set: Obj
    update_set: Obj
    current_revision: str
    update_revision: str
    pods: list[Obj]


@dataclass
class StepResult:
    pods: list[Obj]
    errors: list[errors.APIError] = field(default_factory=list)


class SetControl:
    """The pod and claim side effects of one StatefulSet sync."""

    def __init__(self, client: Client, events: EventRecorder, claims: Informer) -> None:
        self.client = client
        self.events = events
        self.claims = claims

    async def step(self, inp: StepInput) -> StepResult:
        sts = inp.sts
        spec = sts.get("spec") or {}
        raw = spec.get("replicas")
        count = 1 if raw is None else int(raw)
        start = ident.start_ordinal(sts)
        replicas: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in inp.pods:
            ordinal = ident.ordinal_of(pod)
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        condemned.sort(key=ident.ordinal_of, reverse=True)
        result = StepResult(pods=list(inp.pods))
        if sts["metadata"].get("deletionTimestamp"):
            return result
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        min_ready = int(spec.get("minReadySeconds") or 0)
        unhealthy = next((p for p in [*replicas, *condemned] if p is not None and not ident.is_healthy(p)), None)

        for i in range(count):
            slot = replicas[i]
            if slot is None:
                await self._create(inp, start + i, result)
                if monotonic:
                    return result
                continue
            pod = slot
            if ident.is_failed(pod) or ident.is_succeeded(pod):
                if not ident.is_terminating(pod):
                    phase = str(pod["status"].get("phase", "")).lower()
                    self.events.record(sts, "Warning", f"Recreating{phase.capitalize()}Pod",
                                       f"StatefulSet {sts['metadata']['namespace']}/{sts['metadata']['name']} is "
                                       f"recreating {phase} Pod {pod['metadata']['name']}")
                    await self._delete(sts, pod, result)
                if monotonic:
                    return result
                continue
            if not ident.is_terminating(pod):
                await self._ensure_claims(sts, pod, result)
            if monotonic and ident.is_terminating(pod):
                return result
            ready = ident.is_running_and_available(pod, min_ready) if min_ready else ident.is_running_and_ready(pod)
            if monotonic and not ready:
                return result
            if not ident.identity_matches(sts, pod):
                await self._fix_identity(sts, pod, result)

        for target in condemned:
            if ident.is_terminating(target):
                if monotonic:
                    return result
                continue
            if monotonic and not ident.is_running_and_ready(target) and target is not unhealthy:
                return result
            await self._claims_follow_pod(sts, target, result)
            await self._delete(sts, target, result)
            if monotonic:
                return result

        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return result
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for i in range(count - 1, partition - 1, -1):
            current = replicas[i]
            if current is None:
                continue
            if ident.pod_revision(current) != inp.update_revision and not ident.is_terminating(current):
                await self._delete(sts, current, result)
                return result
            if not ident.is_healthy(current):
                return result
        return result

    # -- actions ---------------------------------------------------------------------------

    async def _create(self, inp: StepInput, ordinal: int, result: StepResult) -> Obj | None:
        sts = inp.sts
        pod = ident.versioned_pod(inp.current_set, inp.update_set, inp.current_revision, inp.update_revision, ordinal)
        if not await self._create_claims(sts, ordinal, pod, result):
            return None
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        try:
            created = await self.client.create("pods", pod, ns)
        except errors.AlreadyExists:
            return None  # the cache is behind: the next sync sees the pod
        except errors.APIError as exc:
            if "because it is being terminated" not in exc.message:
                self.events.record(sts, "Warning", "FailedCreate",
                                   f"create Pod {pod['metadata']['name']} in StatefulSet {name} failed error: {exc.message}")
                result.errors.append(exc)
            return None
        self.events.record(sts, "Normal", "SuccessfulCreate",
                           f"create Pod {created['metadata']['name']} in StatefulSet {name} successful")
        result.pods.append(created)
        return created

    def _claim_owner_refs(self, sts: Obj) -> list[Obj]:
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted") == "Delete":
            ref = history.controller_ref(sts, "StatefulSet")
            ref["controller"] = False
            return [ref]
        return []

    async def _create_claims(self, sts: Obj, ordinal: int, pod: Obj, result: StepResult) -> bool:
        """Create the missing claims of ``ordinal``; False when one cannot be used."""
        ns, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        for claim in ident.claims_for(sts, ordinal).values():
            cname = claim["metadata"]["name"]
            existing = self.claims.get(ns, cname)
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    exc = errors.Conflict(f"pvc {cname} is being deleted")
                    self.events.record(sts, "Warning", "FailedCreate",
                                       f"create Pod {pod['metadata']['name']} in StatefulSet {set_name} failed error: "
                                       f"{exc.message}")
                    result.errors.append(exc)
                    return False
                continue
            refs = self._claim_owner_refs(sts)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.client.create("persistentvolumeclaims", claim, ns)
            except errors.AlreadyExists:
                continue
            except errors.APIError as exc:
                self.events.record(sts, "Warning", "FailedCreate",
                                   f"create Claim {cname} for Pod {pod['metadata']['name']} in StatefulSet {set_name} "
                                   f"failed error: {exc.message}")
                result.errors.append(exc)
                return False
            self.events.record(sts, "Normal", "SuccessfulCreate",
                               f"create Claim {cname} Pod {pod['metadata']['name']} in StatefulSet {set_name} success")
        return True

    async def _ensure_claims(self, sts: Obj, pod: Obj, result: StepResult) -> None:
        ns = sts["metadata"]["namespace"]
        ordinal = ident.ordinal_of(pod)
        if any(self.claims.get(ns, c["metadata"]["name"]) is None for c in ident.claims_for(sts, ordinal).values()):
            await self._create_claims(sts, ordinal, pod, result)

    async def _delete(self, sts: Obj, pod: Obj, result: StepResult) -> None:
        m = pod["metadata"]
        name = sts["metadata"]["name"]
        try:
            await self.client.delete("pods", m["name"], m["namespace"], uid=m.get("uid"))
        except (errors.NotFound, errors.Conflict):
            return
        except errors.APIError as exc:
            self.events.record(sts, "Warning", "FailedDelete",
                               f"delete Pod {m['name']} in StatefulSet {name} failed error: {exc.message}")
            result.errors.append(exc)
            return
        self.events.record(sts, "Normal", "SuccessfulDelete", f"delete Pod {m['name']} in StatefulSet {name} successful")
        for i, p in enumerate(result.pods):
            if p["metadata"].get("uid") == m.get("uid"):
                gone = copy.deepcopy(p)
                gone["metadata"]["deletionTimestamp"] = gone["metadata"].get("deletionTimestamp") or "now"
                result.pods[i] = gone

    async def _claims_follow_pod(self, sts: Obj, pod: Obj, result: StepResult) -> None:
        """``whenScaled: Delete``: make the condemned pod the claims' owner before it goes."""
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        ns = sts["metadata"]["namespace"]
        owner = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"].get("uid")}
        for claim in ident.claims_for(sts, ident.ordinal_of(pod)).values():
            live = self.claims.get(ns, claim["metadata"]["name"])
            if live is None:
                continue
            # the condemned pod becomes the only owner: the set's reference would keep the claim alive
            refs = [r for r in live["metadata"].get("ownerReferences") or []
                    if r.get("kind") != "Pod" and r.get("uid") != sts["metadata"].get("uid")]
            try:
                await self.client.patch("persistentvolumeclaims", live["metadata"]["name"],
                                        {"metadata": {"ownerReferences": [*refs, owner]}}, ns)
            except errors.NotFound:
                continue
            except errors.APIError as exc:
                result.errors.append(exc)

    async def _fix_identity(self, sts: Obj, pod: Obj, result: StepResult) -> None:
        m = pod["metadata"]
        ordinal = ident.ordinal_of(pod)
        labels = {ident.POD_NAME_LABEL: m["name"], ident.POD_INDEX_LABEL: str(ordinal)}
        try:
            await self.client.patch("pods", m["name"], {"metadata": {"labels": labels}}, m["namespace"])
        except errors.NotFound:
            return
        except errors.APIError as exc:
            self.events.record(sts, "Warning", "FailedUpdate",
                               f"update Pod {m['name']} in StatefulSet {sts['metadata']['name']} failed error: {exc.message}")
            result.errors.append(exc)
