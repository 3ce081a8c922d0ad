"""The Job controller against a real API server, the test playing the node agent (pod
phases): completions with parallelism, backoffLimit with back-off between retries, Indexed
completion, activeDeadlineSeconds on a fake clock, suspend/resume, TTL after finished,
restart counting with OnFailure; and the pure helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.client import Client
from gitkube.controllers.job import JobController
from gitkube.controllers.job.pods import format_indexes, parse_indexes, pod_from_template
from gitkube.controllers.job.status import backoff_remaining, ensure_condition
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running

Obj = dict[str, Any]


def job_manifest(name: str = "work", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "python"}]}},
                     **spec}}


async def job_pods(client: Client, job: str, *, phase: str | None = None, active: bool = False) -> list[Obj]:
    items = (await client.list("pods", "default"))["items"]
    out = [p for p in items if (meta.controller_ref(p) or {}).get("name") == job]
    if active:
        out = [p for p in out if not p["metadata"].get("deletionTimestamp")
               and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if phase is not None:
        out = [p for p in out if (p.get("status") or {}).get("phase") == phase]
    return sorted(out, key=lambda p: p["metadata"]["name"])


async def n_active(client: Client, job: str, n: int) -> list[Obj] | None:
    pods = await job_pods(client, job, active=True)
    return pods if len(pods) == n else None


async def none_active(client: Client, job: str) -> bool:
    return not await job_pods(client, job, active=True)


async def finish(client: Client, pod: Obj, *, code: int = 0, when: dt.datetime | None = None) -> None:
    """Play the node agent: the pod's one container exited with ``code``."""
    # sub-second precision (the agent writes whole seconds), so short test back-offs are exact
    stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    status = {"phase": "Succeeded" if code == 0 else "Failed",
              "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": stamp}],
              "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0, "image": "python", "imageID": "",
                                     "state": {"terminated": {"exitCode": code, "finishedAt": stamp,
                                                              "reason": "Completed" if code == 0 else "Error"}}}]}
    await client.patch("pods", pod["metadata"]["name"], {"status": status}, "default", subresource="status")


async def running_pod(client: Client, pod: Obj, *, restarts: int = 0, ready: bool = True) -> None:
    status = {"phase": "Running",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": meta.now()}],
              "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts, "image": "python",
                                     "imageID": "", "state": {"running": {"startedAt": meta.now()}}}]}
    await client.patch("pods", pod["metadata"]["name"], {"status": status}, "default", subresource="status")


async def job_status(client: Client, name: str = "work") -> Obj:
    return (await client.get("jobs", name, "default")).get("status") or {}


def condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind and c["status"] == "True"), None)


async def has_condition(client: Client, kind: str, name: str = "work") -> Obj | None:
    status = await job_status(client, name)
    return status if condition(status, kind) else None


async def reasons(client: Client) -> list[str]:
    return [e["reason"] for e in (await client.list("events", "default"))["items"]]


async def test_parallelism_and_completions_run_to_complete(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        job = await client.create("jobs", job_manifest(parallelism=2, completions=4), "default")
        async with running(JobController(client)) as ctl:
            first = await eventually(lambda: n_active(client, "work", 2))
            await asyncio.sleep(0.3)
            assert len(await job_pods(client, "work")) == 2  # never more than parallelism
            pod = first[0]
            assert meta.controller_ref(pod) == {"apiVersion": "batch/v1", "kind": "Job", "name": "work",
                                                "uid": job["metadata"]["uid"], "controller": True,
                                                "blockOwnerDeletion": True}
            assert pod["metadata"]["generateName"] == "work-"
            assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "work"
            assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
            await running_pod(client, first[0])
            await eventually(lambda: _status_is(client, active=2, ready=1))
            for p in first:
                await finish(client, p)
            second = await eventually(lambda: n_active(client, "work", 2))
            assert not {p["metadata"]["name"] for p in second} & {p["metadata"]["name"] for p in first}
            await eventually(lambda: _status_is(client, succeeded=2, active=2))
            await finish(client, second[0])
            await asyncio.sleep(0.3)
            assert len(await job_pods(client, "work", active=True)) == 1  # 3 of 4 done: one left to run
            await finish(client, second[1])
            status = await eventually(lambda: has_condition(client, "Complete"))
            assert status["succeeded"] == 4 and "active" not in status and "failed" not in status
            assert status["ready"] == 0 and status["completionTime"] and status["startTime"]
            complete = condition(status, "Complete")
            assert complete is not None and complete["reason"] == "CompletionsReached"
            assert condition(status, "SuccessCriteriaMet") is not None
            await ctl.events.flush()
            got = await reasons(client)
            assert got.count("Completed") == 1 and got.count("SuccessfulCreate") >= 1


async def _status_is(client: Client, **want: int) -> Obj | None:
    status = await job_status(client)
    return status if all(status.get(k, 0) == v for k, v in want.items()) else None


async def test_backoff_limit_with_backoff_between_retries(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("jobs", job_manifest(backoffLimit=2), "default")
        async with running(JobController(client, backoff_base=0.4)) as ctl:
            times: list[float] = []
            loop = asyncio.get_running_loop()
            for attempt in range(3):
                pods = await eventually(lambda: n_active(client, "work", 1))
                if times:  # the retry came only after base * 2**(failures-1) seconds
                    assert loop.time() - times[-1] >= 0.4 * 2 ** (attempt - 1) - 0.05
                await finish(client, pods[0], code=1)
                times.append(loop.time())
            status = await eventually(lambda: has_condition(client, "Failed"))
            failed = condition(status, "Failed")
            assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
            assert failed["message"] == "Job has reached the specified backoff limit"
            assert condition(status, "FailureTarget") is not None
            assert status["failed"] == 3 and "active" not in status and "completionTime" not in status
            await asyncio.sleep(0.5)
            assert len(await job_pods(client, "work")) == 3
            await ctl.events.flush()
            assert "BackoffLimitExceeded" in await reasons(client)


async def test_indexed_job_completion_indexes(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("jobs", job_manifest(completions=3, parallelism=2, completionMode="Indexed"), "default")
        async with running(JobController(client)):
            pods = await eventually(lambda: n_active(client, "work", 2))
            index_of = {p["metadata"]["name"]: p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                        for p in pods}
            assert sorted(index_of.values()) == ["0", "1"]
            for pod in pods:
                index = index_of[pod["metadata"]["name"]]
                assert pod["metadata"]["name"].startswith(f"work-{index}-")
                assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == index
                assert pod["spec"]["hostname"] == f"work-{index}"
                env = pod["spec"]["containers"][0]["env"]
                assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}} in env
            one = next(p for p in pods if index_of[p["metadata"]["name"]] == "1")
            await finish(client, one)
            await eventually(lambda: _status_is(client, succeeded=1))
            assert (await job_status(client))["completedIndexes"] == "1"
            now = await eventually(lambda: n_active(client, "work", 2))
            indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in now)
            assert indexes == ["0", "2"]
            for pod in now:
                await finish(client, pod)
            status = await eventually(lambda: has_condition(client, "Complete"))
            assert status["completedIndexes"] == "0-2" and status["succeeded"] == 3


async def test_active_deadline_on_a_fake_clock(tmp_path: Path) -> None:
    clock = [dt.datetime.now(dt.UTC)]
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("jobs", job_manifest(parallelism=2, completions=2, activeDeadlineSeconds=600), "default")
        async with running(JobController(client, now=lambda: clock[0])) as ctl:
            await eventually(lambda: n_active(client, "work", 2))
            assert condition(await job_status(client), "Failed") is None
            clock[0] += dt.timedelta(seconds=601)
            ctl.queue.add("default/work")
            status = await eventually(lambda: has_condition(client, "Failed"))
            failed = condition(status, "Failed")
            assert failed is not None and failed["reason"] == "DeadlineExceeded"
            assert failed["message"] == "Job was active longer than specified deadline"
            await eventually(lambda: none_active(client, "work"))
            await ctl.events.flush()
            assert "DeadlineExceeded" in await reasons(client)


async def test_suspend_and_resume(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("jobs", job_manifest(parallelism=2, completions=2, suspend=True), "default")
        async with running(JobController(client)) as ctl:
            status = await eventually(lambda: has_condition(client, "Suspended"))
            assert "startTime" not in status and not await job_pods(client, "work")
            await client.patch("jobs", "work", {"spec": {"suspend": False}}, "default")
            await eventually(lambda: n_active(client, "work", 2))
            status = await job_status(client)
            suspended = next(c for c in status["conditions"] if c["type"] == "Suspended")
            assert suspended["status"] == "False" and suspended["reason"] == "JobResumed" and status["startTime"]
            await client.patch("jobs", "work", {"spec": {"suspend": True}}, "default")
            await eventually(lambda: none_active(client, "work"))
            await eventually(lambda: has_condition(client, "Suspended"))
            await ctl.events.flush()
            got = await reasons(client)
            assert {"Suspended", "Resumed", "SuccessfulDelete"} <= set(got)


async def test_ttl_after_finished_deletes_the_job(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("jobs", job_manifest(ttlSecondsAfterFinished=1), "default")
        async with running(JobController(client)):
            pods = await eventually(lambda: n_active(client, "work", 1))
            # the job completes after this; completionTime has whole seconds, as in Kubernetes
            finished = dt.datetime.now(dt.UTC).replace(microsecond=0)
            await finish(client, pods[0])
            await eventually(lambda: has_condition(client, "Complete"))
            # still there within the TTL (checked only while the clock is inside it: on a loaded
            # machine the Complete condition may be seen after the TTL has already run out)
            try:
                job = await client.get("jobs", "work", "default")
            except errors.NotFound:
                job = None
            if job is None:
                assert dt.datetime.now(dt.UTC) >= finished + dt.timedelta(seconds=1), "deleted before its TTL"

            async def gone() -> bool:
                try:
                    await client.get("jobs", "work", "default")
                except errors.NotFound:
                    return True
                return False

            await eventually(gone, timeout=10)
            await eventually(lambda: _no_pods(client), timeout=10)


async def _no_pods(client: Client) -> bool:
    return not (await client.list("pods", "default"))["items"]


async def test_on_failure_restarts_count_against_backoff_limit(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        manifest = job_manifest(backoffLimit=2)
        manifest["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
        await client.create("jobs", manifest, "default")
        async with running(JobController(client)):
            pods = await eventually(lambda: n_active(client, "work", 1))
            await running_pod(client, pods[0], restarts=1, ready=False)
            await asyncio.sleep(0.3)
            assert condition(await job_status(client), "Failed") is None
            await running_pod(client, pods[0], restarts=2, ready=False)
            status = await eventually(lambda: has_condition(client, "Failed"))
            assert condition(status, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
            await eventually(lambda: none_active(client, "work"))


def test_completed_indexes_format() -> None:
    assert format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7,8"
    assert format_indexes({3}) == "3" and format_indexes(set()) == ""
    assert parse_indexes("0-2,5,7,8", 10) == {0, 1, 2, 5, 7, 8}
    assert parse_indexes("1,3-9,x", 5) == {1, 3, 4}
    assert parse_indexes(None, 3) == set()


def test_backoff_doubles_and_is_capped() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def pod(phase: str, seconds_ago: float) -> Obj:
        stamp = meta.format_time(now - dt.timedelta(seconds=seconds_ago))
        return {"metadata": {"name": "p"}, "status": {"phase": phase, "containerStatuses": [
            {"state": {"terminated": {"finishedAt": stamp}}}]}}

    assert backoff_remaining([], now) == 0
    assert backoff_remaining([pod("Failed", 0)], now) == 10
    assert backoff_remaining([pod("Failed", 30), pod("Failed", 4)], now) == 16
    assert backoff_remaining([pod("Failed", 50)] * 3, now) == -10  # 40 s after the third failure
    assert backoff_remaining([pod("Failed", 0)] * 10, now) == 360  # capped at 6 minutes
    assert backoff_remaining([pod("Failed", 5), pod("Succeeded", 2)], now) == 0  # a success resets it
    assert backoff_remaining([pod("Failed", 0)], now, base=1, cap=2) == 1


def test_pod_template_and_conditions() -> None:
    job = job_manifest()
    job["metadata"].update(namespace="default", uid="u1", name="a" * 60)
    pod = pod_from_template(job, 12)
    assert pod["metadata"]["generateName"] == "a" * 54 + "-12-"
    assert pod["spec"]["hostname"] == "a" * 60 + "-12"
    assert "hostname" not in pod_from_template(job)["spec"]
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    conds, changed = ensure_condition([], "Suspended", "False", "JobResumed", "Job resumed", now)
    assert conds == [] and not changed
    conds, changed = ensure_condition([], "Suspended", "True", "JobSuspended", "Job suspended", now)
    assert changed and conds[0]["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    later = now + dt.timedelta(minutes=1)
    again, changed = ensure_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", later)
    assert not changed and again == conds
    flipped, changed = ensure_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", later)
    assert changed and flipped[0]["status"] == "False" and flipped[0]["lastTransitionTime"] == "2024-01-01T00:01:00Z"
