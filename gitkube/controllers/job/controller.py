"""The Job controller ("job-controller"), after kube-controller-manager's
``pkg/controller/job`` and the TTL-after-finished controller.

``sync("ns/name")`` reads the Job and the pods it controls from the informer caches and
takes one step: it counts succeeded and failed pods (never fewer than the status already
says, so deleting a finished pod does not undo its count; for ``completionMode: Indexed``
the succeeded indexes are merged into ``completedIndexes``), decides whether the Job has
failed (``backoffLimit`` exceeded: failed pods, or container restarts with
``restartPolicy: OnFailure``; ``activeDeadlineSeconds`` passed) or completed, and otherwise
keeps ``min(parallelism, completions - succeeded)`` pods running: it deletes the surplus
(and duplicate or stray indexes) or creates pods from the template (one per pending index
when Indexed), waiting ``backoff_base * 2**(failures-1)`` seconds (at most ``backoff_cap``)
after failures before replacing pods. A suspended Job has its active pods deleted and the
``Suspended`` condition; resuming resets ``startTime``. Status carries active, ready,
terminating, succeeded, failed, startTime, completionTime, completedIndexes and the
conditions (``SuccessCriteriaMet``/``Complete`` with reason ``CompletionsReached``,
``FailureTarget``/``Failed`` with ``BackoffLimitExceeded`` or ``DeadlineExceeded``,
``Suspended``), with the events kube's controller records. A finished Job with
``ttlSecondsAfterFinished`` is deleted (Foreground propagation: the API server's garbage
collector removes its pods) once the time is up.

Pods are counted from those that exist (kube's tracking before the
``batch.kubernetes.io/job-tracking`` pod finalizer). Started by
:class:`gitkube.controllers.manager.ControllerManager`; the clock (``now``) and the back-off
base are injectable for tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client, Handler, Informer, key_of
from gitkube.controllers.base import Controller, resolve_controller_ref, split_key
from gitkube.controllers.job.pods import (
    completion_index,
    format_indexes,
    is_failed,
    is_succeeded,
    is_terminating,
    parse_indexes,
    pod_from_template,
)
from gitkube.controllers.job.status import (
    DEFAULT_BACKOFF,
    MAX_BACKOFF,
    backoff_remaining,
    deadline_remaining,
    ensure_condition,
    finished_condition,
    finished_time,
    past_backoff_limit,
)
from gitkube.controllers.podcontrol import PodControl
from gitkube.controllers.replicaset import Expectations, is_pod_active, is_pod_ready, pods_to_delete

__all__ = ["JobController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

BURST_PODS = 500
_CONFLICT_RETRY = 0.1
_COMPLETED = ("CompletionsReached", "Reached expected number of succeeded pods")
_BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
_DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobController(Controller):
    name = "job-controller"
    workers = 5
    kind = "Job"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 backoff_base: float = DEFAULT_BACKOFF, backoff_cap: float = MAX_BACKOFF,
                 now: Callable[[], dt.datetime] = _utcnow) -> None:
        super().__init__(client, informers=informers)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.now = now
        self.expectations = Expectations()
        self.pods_ctl = PodControl(client, self.events, self.expectations)
        self.jobs = self.informer("jobs")
        self.pods = self.informer("pods")
        self.jobs.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self._job_deleted))
        self.pods.add_handler(Handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted))

    # -- handlers (enqueue only) ----------------------------------------------------------

    def _job_deleted(self, job: Obj) -> None:
        self.expectations.forget(key_of(job))

    def _owner_key(self, pod: Obj) -> str | None:
        owner = resolve_controller_ref(pod, self.kind, self.jobs)
        return key_of(owner) if owner is not None else None

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, key_of(pod))
        else:
            self.expectations.creation_observed(key)
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is None:
            return
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, key_of(new))
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    # -- sync -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        job = self.jobs.get(ns, name)
        if job is None:
            self.expectations.forget(key)
            return
        if job["metadata"].get("deletionTimestamp"):
            return
        now = self.now()
        uid = job["metadata"]["uid"]
        pods = [p for p in self.pods.list(ns) if (meta.controller_ref(p) or {}).get("uid") == uid]
        if finished_condition(job) is not None:
            await self._delete_pods(key, job, [p for p in pods if is_pod_active(p)])
            await self._expire(key, job, now)
            return
        await self._sync_unfinished(key, job, pods, now)

    async def _sync_unfinished(self, key: str, job: Obj, pods: list[Obj], now: dt.datetime) -> None:
        spec = job.get("spec") or {}
        old = job.get("status") or {}
        status: Obj = {k: v for k, v in old.items() if k in ("startTime", "completionTime")}
        conditions: list[Obj] = list(old.get("conditions") or [])
        events: list[tuple[str, str, str]] = []
        active = [p for p in pods if is_pod_active(p)]
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        done: set[int] = set()
        if indexed and completions is not None:
            done = parse_indexes(old.get("completedIndexes"), int(completions))
            done |= {i for p in pods if is_succeeded(p) and (i := completion_index(p, int(completions))) is not None}
            succeeded = len(done)
        else:
            succeeded = max(int(old.get("succeeded") or 0), sum(1 for p in pods if is_succeeded(p)))
        failed = max(int(old.get("failed") or 0), sum(1 for p in pods if is_failed(p)))

        suspended = spec.get("suspend") is True
        if suspended:
            conditions, changed = ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
            if changed:
                events.append(("Normal", "Suspended", "Job suspended"))
        else:
            conditions, changed = ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
            if changed:
                events.append(("Normal", "Resumed", "Job resumed"))
                status["startTime"] = meta.format_time(now)
            status.setdefault("startTime", meta.format_time(now))

        view = {**job, "status": {**old, **status}}
        failure: tuple[str, str] | None = None
        if past_backoff_limit(job, failed, active):
            failure = _BACKOFF_EXCEEDED
        else:
            remaining = deadline_remaining(view, now)
            if remaining is not None and remaining <= 0:
                failure = _DEADLINE_EXCEEDED
        complete = False
        if failure is None:
            if completions is None:
                complete = succeeded > 0 and not active
            else:
                complete = succeeded >= int(completions)

        deleted: set[str] = set()
        created = 0
        create_error: errors.APIError | None = None
        if failure is not None or complete or (suspended and self.expectations.satisfied(key)):
            deleted = await self._delete_pods(key, job, active)
        elif self.expectations.satisfied(key):
            if indexed and completions is not None:
                deleted, created, create_error = await self._manage_indexed(key, job, pods, active, done, now)
            else:
                deleted, created, create_error = await self._manage(key, job, pods, active, succeeded, now)

        remaining_active = [p for p in active if p["metadata"].get("uid") not in deleted]
        if failure is not None:
            reason, message = failure
            for kind in ("FailureTarget", "Failed"):
                conditions, _ = ensure_condition(conditions, kind, "True", reason, message, now)
            events.append(("Warning", reason, message))
        elif complete:
            for kind in ("SuccessCriteriaMet", "Complete"):
                conditions, _ = ensure_condition(conditions, kind, "True", *_COMPLETED, now)
            status["completionTime"] = meta.format_time(now)
            events.append(("Normal", "Completed", "Job completed"))
        for field, value in (("active", len(remaining_active) + created), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[field] = value
        status["terminating"] = sum(1 for p in pods if is_terminating(p)) + len(deleted)
        status["ready"] = sum(1 for p in remaining_active if is_pod_ready(p))
        if done:
            status["completedIndexes"] = format_indexes(done)
        if conditions:
            status["conditions"] = conditions

        if await self._write_status(key, job, status):
            for event_type, reason, message in events:
                self.events.record(job, event_type, reason, message)
        if failure is None and not complete:
            remaining = deadline_remaining({**job, "status": status}, now)
            if remaining is not None:
                self.queue.add_after(key, remaining + 0.05)
        if create_error is not None:
            raise create_error

    # -- managing pods ----------------------------------------------------------------------

    def _replacement_budget(self, job: Obj, pods: list[Obj], diff: int) -> int:
        if (job.get("spec") or {}).get("podReplacementPolicy") == "Failed":
            diff -= sum(1 for p in pods if is_terminating(p))
        return diff

    def _backoff(self, key: str, pods: list[Obj], now: dt.datetime) -> bool:
        """True (and the key requeued) while failed pods may not be replaced yet."""
        wait = backoff_remaining(pods, now, base=self.backoff_base, cap=self.backoff_cap)
        if wait > 0:
            self.queue.add_after(key, wait)
            return True
        return False

    async def _manage(self, key: str, job: Obj, pods: list[Obj], active: list[Obj], succeeded: int,
                      now: dt.datetime) -> tuple[set[str], int, errors.APIError | None]:
        spec = job.get("spec") or {}
        parallelism = int(spec.get("parallelism") or 0)
        completions = spec.get("completions")
        if completions is None:
            want = len(active) if succeeded > 0 else parallelism
        else:
            want = max(0, min(parallelism, int(completions) - succeeded))
        if len(active) > want:
            victims = pods_to_delete(active, active, len(active) - want)
            return await self._delete_pods(key, job, victims), 0, None
        diff = min(self._replacement_budget(job, pods, want - len(active)), BURST_PODS)
        if diff <= 0 or self._backoff(key, pods, now):
            return set(), 0, None
        created, failure = await self._create_pods(key, job, [None] * diff)
        return set(), created, failure

    async def _manage_indexed(self, key: str, job: Obj, pods: list[Obj], active: list[Obj], done: set[int],
                              now: dt.datetime) -> tuple[set[str], int, errors.APIError | None]:
        spec = job.get("spec") or {}
        completions = int(spec.get("completions") or 0)
        parallelism = int(spec.get("parallelism") or 0)
        by_index: dict[int, list[Obj]] = defaultdict(list)
        excess: list[Obj] = []
        for pod in active:
            index = completion_index(pod, completions)
            if index is None or index in done:
                excess.append(pod)
            else:
                by_index[index].append(pod)
        for same in by_index.values():
            if len(same) > 1:
                excess += pods_to_delete(same, same, len(same) - 1)
        want = max(0, min(parallelism, completions - len(done)))
        if len(by_index) > want:
            keep = [next(p for p in same if p not in excess) for same in by_index.values()]
            excess += sorted(keep, key=lambda p: -int(completion_index(p, completions) or 0))[:len(by_index) - want]
        if excess:
            return await self._delete_pods(key, job, excess), 0, None
        diff = min(self._replacement_budget(job, pods, want - len(by_index)), BURST_PODS)
        if diff <= 0:
            return set(), 0, None
        busy = set(by_index)
        if spec.get("podReplacementPolicy") == "Failed":
            busy |= {i for p in pods if is_terminating(p) and (i := completion_index(p, completions)) is not None}
        pending = [i for i in range(completions) if i not in done and i not in busy][:diff]
        if not pending or self._backoff(key, pods, now):
            return set(), 0, None
        created, failure = await self._create_pods(key, job, list[int | None](pending))
        return set(), created, failure

    async def _create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> tuple[int, errors.APIError | None]:
        """Slow-start batches (see :mod:`gitkube.controllers.podcontrol`)."""
        self.expectations.expect_creations(key, len(indexes))
        return await self.pods_ctl.create_batches(key, job, [pod_from_template(job, i) for i in indexes])

    async def _delete_pods(self, key: str, job: Obj, victims: list[Obj]) -> set[str]:
        """Delete ``victims``; the UIDs of those deleted (or already gone)."""
        if not victims:
            return set()
        self.expectations.expect_deletions(key, [key_of(p) for p in victims])
        results = await self.pods_ctl.delete_all(key, job, victims)
        return {str(p["metadata"].get("uid")) for p, failure in zip(victims, results, strict=True) if failure is None}

    # -- status and TTL ---------------------------------------------------------------------

    async def _write_status(self, key: str, job: Obj, status: Obj) -> bool:
        """PUT the status if it changed; False when it was not written. On a Conflict (the
        cache has not seen our own last write yet) the key comes back shortly, to be
        recomputed from a fresher cache."""
        if (job.get("status") or {}) == status:
            return True
        fresh = copy.deepcopy(job)
        fresh["status"] = status
        try:
            await self.client.update_status("jobs", fresh)
        except errors.NotFound:
            return False
        except errors.Conflict:
            log.debug("%s: %s: status conflict, retrying", self.name, key)
            self.queue.add_after(key, _CONFLICT_RETRY)
            return False
        return True

    async def _expire(self, key: str, job: Obj, now: dt.datetime) -> None:
        """ttlSecondsAfterFinished: delete the Job once the time is up, else requeue."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = finished_time(job)
        if ttl is None or finished is None:
            return
        remaining = (finished + dt.timedelta(seconds=int(ttl)) - now).total_seconds()
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        m = job["metadata"]
        try:  # the cache may be stale: check the TTL on the live object before deleting
            fresh = await self.client.get("jobs", m["name"], m["namespace"])
        except errors.NotFound:
            return
        if fresh["metadata"].get("uid") != m["uid"] or (fresh.get("spec") or {}).get("ttlSecondsAfterFinished") != ttl:
            return
        log.info("%s: deleting job %s/%s: finished %ss ago (ttlSecondsAfterFinished %s)", self.name,
                 m["namespace"], m["name"], int((now - finished).total_seconds()), ttl)
        try:
            await self.client.delete("jobs", m["name"], m["namespace"], propagation_policy="Foreground",
                                     uid=m["uid"], resource_version=fresh["metadata"].get("resourceVersion"))
        except errors.NotFound:
            return
