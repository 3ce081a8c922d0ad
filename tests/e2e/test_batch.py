"""Issue 6 end to end: Jobs and CronJobs run real processes on a local node.

One daemon with a local node (CrashLoopBackOff base 1 s), real kubectl: a Job with
parallelism 2 and completions 4 runs to Complete; a failing Job reaches its backoffLimit
after the 10 s back-off; an Indexed Job's pods print their JOB_COMPLETION_INDEX; a
CronJob "* * * * *" fires once for real and its Job completes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import ensure_namespace, reap_containers

pytestmark = pytest.mark.e2e

NS = "batch"
DAEMON_ARGS = ["--node-name", "batch-node", "--service-cidr", "127.87.0.0/16", "--cluster-cidr", "127.32.0.0/11",
               "--crashloop-backoff", "1s"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Kubectl]]:
    data = tmp_path_factory.mktemp("batch") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
    try:
        wait_for(lambda: "Ready" in k.run("get", "node", "batch-node", check=False).stdout.split(), timeout=30,
                 what="batch-node Ready")
        ensure_namespace(k, NS)
        yield d, k
    finally:
        stop_daemon(d)
        reap_containers(data)


def job(name: str, script: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
                       "spec": {"template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                                                      "containers": [{"name": "main", "image": "python:3.11",
                                                                      "command": [sys.executable, "-c", script]}]}},
                                **spec}})


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == kind and c["status"] == "True"), None)


def finished(k: Kubectl, name: str, kind: str) -> dict[str, Any] | None:
    obj = get_json(k, "-n", NS, "job", name)
    return obj if condition(obj, kind) else None


def pods_of(k: Kubectl, name: str) -> list[dict[str, Any]]:
    items = get_json(k, "-n", NS, "pods", "-l", f"batch.kubernetes.io/job-name={name}")["items"]
    return sorted(items, key=lambda p: p["metadata"]["creationTimestamp"])


def test_parallel_job_runs_to_complete(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("apply", "-f", "-", input=job("par", "import time; time.sleep(1.5); print('done')",
                                         parallelism=2, completions=4))
    most_active = 0

    def done() -> dict[str, Any] | None:
        nonlocal most_active
        pods = pods_of(k, "par")
        running = [p for p in pods if p.get("status", {}).get("phase") in ("Pending", "Running")]
        most_active = max(most_active, len(running))
        return finished(k, "par", "Complete")

    obj = wait_for(done, timeout=90, what="job par Complete")
    status = obj["status"]
    assert status["succeeded"] == 4 and not status.get("failed") and status["completionTime"]
    assert most_active <= 2
    pods = pods_of(k, "par")
    assert len(pods) == 4 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert k.run("-n", NS, "logs", pods[0]["metadata"]["name"]).stdout.strip() == "done"
    table = k.run("-n", NS, "get", "jobs", "par").stdout
    assert "Complete" in table and "4/4" in table
    described = k.run("-n", NS, "describe", "job", "par").stdout
    assert "Completed" in described and "SuccessfulCreate" in described


def test_failing_job_reaches_backoff_limit(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("apply", "-f", "-", input=job("fails", "import sys; sys.exit(3)", backoffLimit=1))
    obj = wait_for(lambda: finished(k, "fails", "Failed"), timeout=90, what="job fails Failed")
    failed = condition(obj, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert obj["status"]["failed"] == 2 and not obj["status"].get("active")
    pods = pods_of(k, "fails")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Failed" for p in pods)
    first_done = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    retry_at = pods[1]["metadata"]["creationTimestamp"]
    waited = (dt.datetime.fromisoformat(retry_at.replace("Z", "+00:00"))
              - dt.datetime.fromisoformat(first_done.replace("Z", "+00:00"))).total_seconds()
    assert waited >= 9, waited  # the 10 s back-off (timestamps are whole seconds)
    assert "BackoffLimitExceeded" in k.run("-n", NS, "describe", "job", "fails").stdout


def test_indexed_job_pods_see_their_index(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    script = "import os; print('index=' + os.environ['JOB_COMPLETION_INDEX'])"
    k.run("apply", "-f", "-", input=job("idx", script, completions=3, parallelism=3, completionMode="Indexed"))
    obj = wait_for(lambda: finished(k, "idx", "Complete"), timeout=90, what="job idx Complete")
    assert obj["status"]["completedIndexes"] == "0-2" and obj["status"]["succeeded"] == 3
    seen = set()
    for pod in pods_of(k, "idx"):
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert k.run("-n", NS, "logs", pod["metadata"]["name"]).stdout.strip() == f"index={index}"
        seen.add(index)
    assert seen == {"0", "1", "2"}


def test_cronjob_fires_on_a_minute_schedule(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("apply", "-f", "-", input=json.dumps({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "every-minute", "namespace": NS},
        "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid",
                 "jobTemplate": {"spec": {"template": {"spec": {
                     "restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "python:3.11",
                                     "command": [sys.executable, "-c", "print('tick')"]}]}}}}}}))

    def fired() -> list[dict[str, Any]]:
        items = get_json(k, "-n", NS, "jobs")["items"]
        return [j for j in items if j["metadata"]["name"].startswith("every-minute-")]

    [first] = wait_for(fired, timeout=75, what="the CronJob's first Job")
    scheduled = int(first["metadata"]["name"].rsplit("-", 1)[1]) * 60
    annotation = first["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert dt.datetime.fromisoformat(annotation.replace("Z", "+00:00")).timestamp() == scheduled
    job_name = first["metadata"]["name"]
    wait_for(lambda: finished(k, job_name, "Complete"), timeout=60, what="the CronJob's Job Complete")

    def recorded() -> dict[str, Any] | None:
        cj = get_json(k, "-n", NS, "cronjob", "every-minute")
        status = cj.get("status") or {}
        return cj if status.get("lastSuccessfulTime") and not status.get("active") else None

    cj = wait_for(recorded, timeout=30, what="lastSuccessfulTime")
    last = dt.datetime.fromisoformat(cj["status"]["lastScheduleTime"].replace("Z", "+00:00"))
    assert last.timestamp() >= scheduled
    k.run("-n", NS, "delete", "cronjob", "every-minute")


def test_ttl_after_finished_deletes_job_and_pods(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    k.run("apply", "-f", "-", input=job("short-lived", "print('bye')", ttlSecondsAfterFinished=2))
    wait_for(lambda: pods_of(k, "short-lived"), timeout=30, what="the pod of job short-lived")

    def gone() -> bool:
        listed = k.run("-n", NS, "get", "jobs", "-o", "name").stdout.split()
        return "job.batch/short-lived" not in listed and not pods_of(k, "short-lived")

    wait_for(gone, timeout=60, what="job short-lived and its pod deleted")


def test_invalid_cron_expression_is_rejected(cluster: tuple[Daemon, Kubectl]) -> None:
    _, k = cluster
    bad = json.dumps({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "bad-cron", "namespace": NS},
                      "spec": {"schedule": "61 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                          "restartPolicy": "Never", "containers": [{"name": "main", "image": "python:3.11"}]}}}}}})
    proc = k.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert 'spec.schedule: Invalid value: "61 * * * *"' in proc.stderr, proc.stderr
    assert "bad-cron" not in k.run("-n", NS, "get", "cronjobs").stdout
