"""The HPA controller against a real API server: metrics pushed to metrics.k8s.io as a node
agent does, a fake clock for the stabilization window, scale via the scale subresource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.api import meta, scheme
from gitkube.client import Client
from gitkube.controllers.hpa import HorizontalPodAutoscalerController
from gitkube.testing import running_apiserver
from tests.unit.controllers.kit import eventually, running

POD_METRICS = scheme.by_gvk("metrics.k8s.io", "v1beta1", "PodMetrics")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def rs(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "python",
                                                           "resources": {"requests": {"cpu": "100m"}}}]}}}}


def hpa(target: str = "web", kind: str = "ReplicaSet", down_window: int = 30) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
                     "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": down_window}}}}


async def make_pod(client: Client, name: str) -> None:
    """A running, long-ready pod of the ReplicaSet's selector (no ReplicaSet controller runs here)."""
    spec = rs()["spec"]["template"]
    await client.create("pods", {"apiVersion": "v1", "kind": "Pod",
                                 "metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec["spec"]},
                        "default")
    started = "2020-01-01T00:00:00Z"
    await client.patch("pods", name, {"status": {"phase": "Running", "startTime": started, "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": started}]}}, "default", subresource="status")


async def push(client: Client, name: str, cpu: str) -> None:
    assert POD_METRICS is not None
    await client.update(POD_METRICS, {"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                                      "timestamp": meta.now(), "window": "1s",
                                      "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "1Mi"}}]})


async def replicas(client: Client) -> int:
    return int((await client.get("replicasets", "web", "default"))["spec"]["replicas"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


async def events(client: Client, reason: str) -> list[str]:
    items = (await client.list("events", "default"))["items"]
    return [e["message"] for e in items if e.get("reason") == reason]


async def test_scales_up_on_cpu_and_down_after_the_window(tmp_path: Path) -> None:
    clock = Clock()
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("replicasets", rs(), "default")
        await make_pod(client, "web-a")
        await push(client, "web-a", "150m")  # 150% of the request against a 50% target -> 3
        await client.create("horizontalpodautoscalers", hpa(), "default")
        controller = HorizontalPodAutoscalerController(client, sync_period=0.2, clock=clock)
        async with running(controller):
            await eventually(lambda: _equals(replicas(client), 3))
            got = await client.get("horizontalpodautoscalers", "web", "default")
            assert got["status"]["currentReplicas"] == 1 and got["status"]["desiredReplicas"] == 3
            assert got["status"]["currentMetrics"] == [{"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": 150, "averageValue": "150m"}}}]
            assert got["status"]["lastScaleTime"]
            assert condition(got, "AbleToScale")["reason"] == "SucceededRescale"
            assert condition(got, "ScalingActive")["reason"] == "ValidMetricFound"
            assert await eventually(lambda: events(client, "SuccessfulRescale")) == [
                "New size: 3; reason: cpu resource utilization (percentage of request) above target"]
            # load gone: the 30 s down window holds 3 until the fake clock passes it
            for name in ("web-b", "web-c"):
                await make_pod(client, name)
            for name in ("web-a", "web-b", "web-c"):
                await push(client, name, "1m")
            got = await eventually(lambda: _reason(client, "AbleToScale", "ScaleDownStabilized"))
            assert await replicas(client) == 3
            clock.now += 31
            await eventually(lambda: _equals(replicas(client), 1))
            got = await client.get("horizontalpodautoscalers", "web", "default")
            assert got["status"]["desiredReplicas"] == 1
            assert "New size: 1; reason: All metrics below target" in await events(client, "SuccessfulRescale")


async def test_missing_target_reports_failed_get_scale(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("horizontalpodautoscalers", hpa(target="nope", kind="Deployment"), "default")
        async with running(HorizontalPodAutoscalerController(client, sync_period=0.2)):
            got = await eventually(lambda: _reason(client, "AbleToScale", "FailedGetScale"))
            cond = condition(got, "AbleToScale")
            assert cond["status"] == "False"
            assert cond["message"] == ('the HPA controller was unable to get the target\'s current scale: '
                                       'deployments.apps "nope" not found')
            assert await eventually(lambda: events(client, "FailedGetScale")) == ['deployments.apps "nope" not found']


async def test_no_metrics_sets_scaling_active_false(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "d") as (_s, client):
        await client.create("replicasets", rs(), "default")
        await make_pod(client, "web-a")
        await client.create("horizontalpodautoscalers", hpa(), "default")
        async with running(HorizontalPodAutoscalerController(client, sync_period=0.2)):
            got = await eventually(lambda: _reason(client, "ScalingActive", "FailedGetResourceMetric"))
            assert condition(got, "ScalingActive")["message"].startswith(
                "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get "
                "metrics for resource cpu: no metrics returned from resource metrics API")
            assert got["status"]["currentMetrics"] == [{"type": ""}]
            assert await replicas(client) == 1
            msgs = await eventually(lambda: events(client, "FailedComputeMetricsReplicas"))
            assert msgs[0].startswith("failed to compute desired number of replicas based on listed metrics for "
                                      "ReplicaSet/default/web: invalid metrics (1 invalid out of 1)")


async def test_metrics_api_is_read_only_for_the_readonly_token(tmp_path: Path) -> None:
    from gitkube.client import HTTPTransport

    async with running_apiserver(tmp_path / "d") as (server, client):
        await push(client, "web-a", "5m")
        reader = Client(HTTPTransport(server.socket_url, server.creds.readonly_token))
        try:
            assert POD_METRICS is not None
            listed = await reader.list(POD_METRICS, "default", label_selector="app=web")
            assert [i["metadata"]["name"] for i in listed["items"]] == ["web-a"]
            assert (await reader.list(POD_METRICS, "default", label_selector="app=other"))["items"] == []
            try:
                await push(reader, "web-b", "5m")
            except errors.Forbidden:
                pass
            else:
                raise AssertionError("a read-only token wrote metrics")
            try:
                await reader.get(POD_METRICS, "web-b", "default")
            except errors.NotFound as exc:
                assert 'podmetrics.metrics.k8s.io "default/web-b" not found' in str(exc)
            else:
                raise AssertionError("web-b exists")
        finally:
            await reader.close()


async def _equals(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def _reason(client: Client, kind: str, reason: str) -> dict[str, Any] | None:
    got = await client.get("horizontalpodautoscalers", "web", "default")
    conds = [c for c in (got.get("status") or {}).get("conditions", []) if c["type"] == kind]
    return got if conds and conds[0]["reason"] == reason else None
