"""The metrics registry: request labels as kube-apiserver sets them, pods by phase counted at scrape
time, work queue series, the engine's series, and an exposition prometheus-client's parser reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gitkube.apiserver import requestinfo
from gitkube.client import WorkQueue, run_workers
from gitkube.observability.metrics import Metrics


def samples(body: bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], series: str, **labels: str) -> float:
    return sum(v for got, v in found.get(series, []) if all(got.get(k) == want for k, want in labels.items()))


def test_two_registries_in_one_process_do_not_clash() -> None:
    a, b = Metrics(), Metrics()
    a.observe_sync("Synced", 1.0)
    body_a, _ = asyncio.run(a.exposition())
    body_b, _ = asyncio.run(b.exposition())
    assert value(samples(body_a), "gitkube_sync_total", outcome="Synced") == 1
    assert value(samples(body_b), "gitkube_sync_total", outcome="Synced") == 0


def test_request_labels_follow_the_request_info() -> None:
    m = Metrics(process=False)
    list_pods = requestinfo.parse("GET", "/api/v1/namespaces/web/pods", {})
    get_deploy = requestinfo.parse("GET", "/apis/apps/v1/namespaces/web/deployments/app", {})
    scale = requestinfo.parse("PUT", "/apis/apps/v1/namespaces/web/deployments/app/scale", {})
    watch_all = requestinfo.parse("GET", "/api/v1/pods", {"watch": "true"})
    nodes = requestinfo.parse("GET", "/api/v1/nodes", {})
    m.observe_request("GET", "/api/v1/namespaces/web/pods", list_pods, 200, 0.003)
    m.observe_request("GET", "/api/v1/namespaces/web/pods", list_pods, 200, 0.3)
    m.observe_request("GET", "/apis/apps/v1/namespaces/web/deployments/app", get_deploy, 404, 0.001)
    m.observe_request("PUT", "/apis/apps/v1/namespaces/web/deployments/app/scale", scale, 200, 0.01)
    m.observe_request("GET", "/api/v1/pods", watch_all, 200, 90.0)
    m.observe_request("GET", "/api/v1/nodes", nodes, 200, 0.01)
    found = samples(asyncio.run(m.exposition())[0])
    assert value(found, "apiserver_request_total", verb="list", resource="pods", scope="namespace", code="200") == 2
    assert value(found, "apiserver_request_total", verb="get", group="apps", resource="deployments",
                 scope="resource", code="404") == 1
    assert value(found, "apiserver_request_total", verb="update", resource="deployments", subresource="scale") == 1
    assert value(found, "apiserver_request_total", verb="watch", resource="pods", scope="cluster") == 1
    assert value(found, "apiserver_request_total", verb="list", resource="nodes", scope="cluster") == 1
    # the histogram: both list calls counted, one under 5 ms, the watch past the last bucket
    assert value(found, "apiserver_request_duration_seconds_count", verb="list", resource="pods") == 2
    assert value(found, "apiserver_request_duration_seconds_bucket", verb="list", resource="pods", le="0.005") == 1
    assert value(found, "apiserver_request_duration_seconds_bucket", verb="watch", le="60.0") == 0
    assert value(found, "apiserver_request_duration_seconds_bucket", verb="watch", le="+Inf") == 1
    assert "code" not in found["apiserver_request_duration_seconds_count"][0][0]


def test_non_resource_paths_have_a_bounded_label() -> None:
    m = Metrics(process=False)
    m.add_path_prefix("/gitkube/")
    assert m.non_resource_path("/healthz") == "/healthz"
    assert m.non_resource_path("/metrics") == "/metrics"
    assert m.non_resource_path("/openapi/v3/apis/apps/v1") == "/openapi/v3"
    assert m.non_resource_path("/apis/apps/v1") == "/apis"
    assert m.non_resource_path("/api/v1/namespaces/x/nopes") == "/api"
    assert m.non_resource_path("/gitkube/v1/status") == "/gitkube"
    assert m.non_resource_path("/wp-login.php") == "other"
    m.observe_request("GET", "/healthz", None, 200, 0.0001)
    found = samples(asyncio.run(m.exposition())[0])
    assert value(found, "apiserver_request_total", verb="get", resource="", subresource="/healthz") == 1


def test_pods_by_phase_are_counted_at_scrape_time() -> None:
    m = Metrics(process=False)
    pods: list[Mapping[str, Any]] = []

    async def source() -> Iterable[Mapping[str, Any]]:
        return list(pods)

    m.set_pod_source(source)
    found = samples(asyncio.run(m.exposition())[0])
    assert {labels["phase"]: v for labels, v in found["gitkube_pods"]} == {
        "Pending": 0, "Running": 0, "Succeeded": 0, "Failed": 0, "Unknown": 0}
    pods += [{"status": {"phase": "Running"}}, {"status": {"phase": "Running"}}, {"status": {}},
             {"status": {"phase": "Failed"}}, {"status": {"phase": "Weird"}}]
    found = samples(asyncio.run(m.exposition())[0])
    assert {labels["phase"]: v for labels, v in found["gitkube_pods"]} == {
        "Pending": 1, "Running": 2, "Succeeded": 0, "Failed": 1, "Unknown": 1}


def test_engine_series_and_sync_info() -> None:
    m = Metrics(process=False)
    status = {"commit": "abc", "branch": "main", "syncState": "Synced"}
    m.set_sync_info(lambda: status)
    m.observe_sync("Synced", 3.0)
    m.observe_sync("RolledBack", 70.0)
    m.count_rollback("automatic")
    m.count_drift("Deployment")
    m.count_drift("Deployment")
    found = samples(asyncio.run(m.exposition())[0])
    assert value(found, "gitkube_sync_total", outcome="Synced") == 1
    assert value(found, "gitkube_sync_total", outcome="RolledBack") == 1
    assert value(found, "gitkube_sync_duration_seconds_sum") == 73.0
    assert value(found, "gitkube_rollbacks_total", trigger="automatic") == 1
    assert value(found, "gitkube_drift_detected_total", kind="Deployment") == 2
    assert found["gitkube_sync_info"] == [({"commit": "abc", "branch": "main", "state": "Synced"}, 1.0)]
    status["syncState"] = "OutOfSync"  # read at each scrape: the old labels are gone
    found = samples(asyncio.run(m.exposition())[0])
    assert found["gitkube_sync_info"] == [({"commit": "abc", "branch": "main", "state": "OutOfSync"}, 1.0)]


def test_openmetrics_when_asked() -> None:
    body, content_type = asyncio.run(Metrics(process=False).exposition("application/openmetrics-text; version=1.0.0"))
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
    _, plain = asyncio.run(Metrics(process=False).exposition(""))
    assert plain.startswith("text/plain")


async def test_work_queue_series() -> None:
    m = Metrics(process=False)
    queue: WorkQueue[str] = WorkQueue(base=0.001)
    queue.instrument(m.queue("demo-controller"))
    attempts: dict[str, int] = {}
    done = asyncio.Event()

    async def sync(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if key == "flaky" and attempts[key] < 3:
            raise RuntimeError("not yet")
        if attempts.get("flaky", 0) >= 3 and "a" in attempts and "b" in attempts:
            done.set()

    queue.add("a")
    queue.add("a")  # deduplicated: not an add
    queue.add("b")
    queue.add("flaky")
    found = samples((await m.exposition())[0])
    assert value(found, "workqueue_depth", name="demo-controller") == 3
    task = asyncio.create_task(run_workers(queue, sync, name="demo-controller"))
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    found = samples((await m.exposition())[0])
    assert value(found, "workqueue_depth", name="demo-controller") == 0
    assert value(found, "workqueue_retries_total", name="demo-controller") == 2
    assert value(found, "workqueue_adds_total", name="demo-controller") == 5  # a, b, flaky + 2 retries
    assert value(found, "workqueue_work_duration_seconds_count", name="demo-controller") >= 5
    assert value(found, "workqueue_queue_duration_seconds_count", name="demo-controller") == 5
