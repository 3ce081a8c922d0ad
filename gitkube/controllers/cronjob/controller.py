"""The CronJob controller ("cronjob-controller"), after kube-controller-manager's
``pkg/controller/cronjob`` (cronjob_controllerv2).

``sync("ns/name")`` first reconciles ``status.active`` with the Jobs the CronJob controls
(finished ones leave it with a ``SawCompletedJob`` event, vanished ones with ``MissingJob``,
unknown running ones raise ``UnexpectedJob``; ``lastSuccessfulTime`` follows the latest
completed Job), then, unless suspended, finds the most recent unmet run time of the
schedule (``spec.timeZone`` honoured, ``startingDeadlineSeconds`` bounding how far back it
looks) and starts a Job named ``NAME-<scheduled minutes since the epoch>`` from the job
template, honouring ``concurrencyPolicy`` (Allow; Forbid skips with ``JobAlreadyActive``;
Replace deletes the running Jobs first). It deletes the oldest finished Jobs beyond
``successfulJobsHistoryLimit``/``failedJobsHistoryLimit``, writes ``active``,
``lastScheduleTime`` and ``lastSuccessfulTime``, and requeues itself for the next run time.
Deleted Jobs' pods go with them (Background propagation, the API server's garbage
collector). The clock (``now``) is injectable so tests can drive the schedule.
Started by :class:`gitkube.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.base import Controller, split_key
from gitkube.controllers.cronjob.schedule import Schedule, job_name, most_recent, parse

__all__ = ["SCHEDULED_TIMESTAMP_ANNOTATION", "CronJobController", "job_from_template"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
_NEXT_SCHEDULE_DELTA = 0.1
_CONFLICT_RETRY = 0.1


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _finished(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has finished."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _ref(job: Obj) -> Obj:
    m = job["metadata"]
    return {"kind": "Job", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"],
            "apiVersion": "batch/v1", "resourceVersion": m.get("resourceVersion", "")}


def job_from_template(cj: Obj, scheduled: dt.datetime, zone: dt.tzinfo) -> Obj:
    """The Job a CronJob starts for ``scheduled`` (getJobFromTemplate2)."""
    template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tm = template.get("metadata") or {}
    annotations = dict(tm.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = scheduled.astimezone(zone).isoformat()
    if annotations[SCHEDULED_TIMESTAMP_ANNOTATION].endswith("+00:00"):
        annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = annotations[SCHEDULED_TIMESTAMP_ANNOTATION][:-6] + "Z"
    md: Obj = {"name": job_name(cj["metadata"]["name"], scheduled), "namespace": cj["metadata"]["namespace"],
               "annotations": annotations,
               "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cj["metadata"]["name"],
                                    "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]}
    if tm.get("labels"):
        md["labels"] = dict(tm["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


def _time(job: Obj, field: str) -> dt.datetime | None:
    value = (job.get("status") or {}).get(field)
    return meta.parse_time(str(value)) if value else None


class CronJobController(Controller):
    name = "cronjob-controller"
    workers = 5
    kind = "CronJob"

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None,
                 now: Callable[[], dt.datetime] = _utcnow) -> None:
        super().__init__(client, informers=informers)
        self.now = now
        self.cronjobs = self.informer("cronjobs")
        self.jobs = self.informer("jobs")
        self.cronjobs.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n)))
        owner = self._enqueue_owner
        self.jobs.add_handler(Handler(on_add=owner, on_update=lambda _o, n: owner(n), on_delete=owner))

    def _enqueue_owner(self, job: Obj) -> None:
        self.enqueue_owner(job, self.kind)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        cached = self.cronjobs.get(ns, name)
        if cached is None:
            return
        cj = copy.deepcopy(cached)
        cj.setdefault("status", {})
        uid = cj["metadata"]["uid"]
        jobs = [j for j in self.jobs.list(ns) if (meta.controller_ref(j) or {}).get("uid") == uid]
        now = self.now()
        await self._reconcile_active(cj, jobs)
        requeue = await self._start_due_job(cj, now)
        await self._cleanup(cj, jobs)
        await self._write_status(key, cached, cj)
        if requeue is not None:
            self.queue.add_after(key, requeue)

    # -- status.active --------------------------------------------------------------------

    async def _reconcile_active(self, cj: Obj, jobs: list[Obj]) -> None:
        status = cj["status"]
        active: list[Obj] = list(status.get("active") or [])
        active_uids = {a.get("uid") for a in active}
        if any(j["metadata"]["uid"] not in active_uids and _finished(j) is None for j in jobs):
            # the cache may not have our own last status write yet: look at the live object
            try:
                live = await self.client.get("cronjobs", cj["metadata"]["name"], cj["metadata"]["namespace"])
            except errors.NotFound:
                return
            if live["metadata"].get("uid") == cj["metadata"]["uid"]:
                cj["metadata"] = live["metadata"]
                cj["status"] = status = dict(live.get("status") or {})
                active = list(status.get("active") or [])
                active_uids = {a.get("uid") for a in active}
        for job in jobs:
            m = job["metadata"]
            outcome = _finished(job)
            if m["uid"] not in active_uids and outcome is None:
                self.events.record(cj, "Warning", "UnexpectedJob",
                                   f"Saw a job that the controller did not create or forgot: {m['name']}")
            elif m["uid"] in active_uids and outcome is not None:
                active = [a for a in active if a.get("uid") != m["uid"]]
                self.events.record(cj, "Normal", "SawCompletedJob", f"Saw completed job: {m['name']}, condition: {outcome}")
            if outcome == "Complete" and (done := _time(job, "completionTime")) is not None:
                last = _time(cj, "lastSuccessfulTime")
                if last is None or done > last:
                    status["lastSuccessfulTime"] = meta.format_time(done)
        known = {j["metadata"]["uid"] for j in jobs}
        for ref in list(active):
            if ref.get("uid") in known:
                continue
            try:  # the cache may lag behind a Job just created: ask the API server
                found: Obj | None = await self.client.get("jobs", str(ref.get("name")), cj["metadata"]["namespace"])
            except errors.NotFound:
                found = None
            if found is None or found["metadata"].get("uid") != ref.get("uid"):
                self.events.record(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                active = [a for a in active if a.get("uid") != ref.get("uid")]
        _set_active(status, active)

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, cj: Obj) -> Schedule | None:
        spec = cj.get("spec") or {}
        zone = spec.get("timeZone")
        try:
            return parse(str(spec.get("schedule") or ""), zone)
        except errors.ConfigError as exc:
            if str(exc).startswith("unknown time zone"):
                self.events.record(cj, "Warning", "UnknownTimeZone", f'invalid timeZone: "{zone}": {exc}')
            else:
                self.events.record(cj, "Warning", "UnparseableSchedule",
                                   f'unparseable schedule: "{spec.get("schedule")}" : {exc}')
            return None

    def _next_in(self, cj: Obj, sched: Schedule, now: dt.datetime) -> float:
        """Seconds until the run after the most recent one (nextScheduleTimeDuration)."""
        earliest = _time(cj, "lastScheduleTime") or meta.parse_time(str(cj["metadata"]["creationTimestamp"]))
        latest, _ = most_recent(sched, earliest, now)
        return (sched.next(latest or earliest) - now).total_seconds() + _NEXT_SCHEDULE_DELTA

    async def _start_due_job(self, cj: Obj, now: dt.datetime) -> float | None:
        """Start the Job of the most recent unmet run time, if any; seconds until the next."""
        spec = cj.get("spec") or {}
        if cj["metadata"].get("deletionTimestamp") or spec.get("suspend") is True:
            return None
        sched = self._schedule(cj)
        if sched is None:
            return None
        earliest = _time(cj, "lastScheduleTime") or meta.parse_time(str(cj["metadata"]["creationTimestamp"]))
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - dt.timedelta(seconds=int(deadline)))
        scheduled, missed = most_recent(sched, earliest, now)
        if missed > 100:
            self.events.record(cj, "Warning", "TooManyMissedTimes", f"too many missed start times: {missed}. "
                               "Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        if scheduled is None:
            return self._next_in(cj, sched, now)
        if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
            self.events.record(cj, "Warning", "MissSchedule",
                               f"Missed scheduled time to start a job: {format_datetime(scheduled.astimezone(dt.UTC))}")
            return self._next_in(cj, sched, now)
        status = cj["status"]
        active: list[Obj] = list(status.get("active") or [])
        name = job_name(cj["metadata"]["name"], scheduled)
        if any(a.get("name") == name for a in active) or _time(cj, "lastScheduleTime") == scheduled:
            return self._next_in(cj, sched, now)
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.events.record(cj, "Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and concurrency policy is Forbid")
            return self._next_in(cj, sched, now)
        if policy == "Replace":
            for ref in list(active):
                await self._delete_job(cj, str(ref.get("name")), str(ref.get("uid")))
                active = [a for a in active if a.get("uid") != ref.get("uid")]
            _set_active(status, active)
        job = await self._create_job(cj, job_from_template(cj, scheduled, sched.zone))
        _set_active(status, [*active, _ref(job)])
        status["lastScheduleTime"] = meta.format_time(scheduled)
        return self._next_in(cj, sched, now)

    async def _create_job(self, cj: Obj, job: Obj) -> Obj:
        ns = cj["metadata"]["namespace"]
        try:
            created = await self.client.create("jobs", job, ns)
        except errors.AlreadyExists:
            existing = await self.client.get("jobs", job["metadata"]["name"], ns)
            if (meta.controller_ref(existing) or {}).get("uid") != cj["metadata"]["uid"]:
                raise errors.Conflict(f'job "{job["metadata"]["name"]}" already exists and is not owned by '
                                      f'cronjob "{cj["metadata"]["name"]}"') from None
            log.info("%s: job %s/%s already exists", self.name, ns, job["metadata"]["name"])
            return existing
        except errors.APIError as exc:
            if "because it is being terminated" in exc.message:
                raise
            self.events.record(cj, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        self.events.record(cj, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    async def _delete_job(self, cj: Obj, name: str, uid: str) -> None:
        try:
            await self.client.delete("jobs", name, cj["metadata"]["namespace"], propagation_policy="Background", uid=uid)
        except errors.NotFound:
            return
        except errors.Conflict:  # a different Job of the same name: not ours to delete
            return
        self.events.record(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")

    # -- history and status -------------------------------------------------------------------

    async def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond the history limits (cleanupFinishedJobs)."""
        spec = cj.get("spec") or {}
        limits = {"Complete": spec.get("successfulJobsHistoryLimit"), "Failed": spec.get("failedJobsHistoryLimit")}
        status = cj["status"]
        for outcome, limit in limits.items():
            if limit is None:
                continue
            done = [j for j in jobs if _finished(j) == outcome and not j["metadata"].get("deletionTimestamp")]
            if len(done) <= int(limit):
                continue
            done.sort(key=lambda j: _time(j, "startTime") or meta.parse_time(str(j["metadata"]["creationTimestamp"])))
            for job in done[:len(done) - int(limit)]:
                await self._delete_job(cj, job["metadata"]["name"], job["metadata"]["uid"])
                _set_active(status, [a for a in status.get("active") or [] if a.get("uid") != job["metadata"]["uid"]])

    async def _write_status(self, key: str, cached: Obj, cj: Obj) -> None:
        """PUT the status when it changed. On a Conflict (the cache has not seen our own last
        write yet) the key comes back shortly, to be recomputed from a fresher cache; the
        Job name derived from the scheduled time keeps a retry from starting a second Job."""
        if (cached.get("status") or {}) == cj["status"]:
            return
        try:
            await self.client.update_status("cronjobs", cj)
        except errors.NotFound:
            return
        except errors.Conflict:
            log.debug("%s: %s: status conflict, retrying", self.name, key)
            self.queue.add_after(key, _CONFLICT_RETRY)


def _set_active(status: Obj, active: list[Obj]) -> None:
    if active:
        status["active"] = active
    else:
        status.pop("active", None)
