"""The node agent's metrics reporter: CPU as a rate between two samples, RSS as memory,
PodMetrics/NodeMetrics pushed to the API server's metrics.k8s.io view and deleted when the
pod stops running; the host's usage read with psutil."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitkube import errors
from gitkube.agent.metrics import MetricsReporter, format_window, node_usage
from gitkube.api import scheme
from gitkube.testing import running_apiserver

POD_METRICS = scheme.by_gvk("metrics.k8s.io", "v1beta1", "PodMetrics")
NODE_METRICS = scheme.by_gvk("metrics.k8s.io", "v1beta1", "NodeMetrics")


@dataclass
class Spec:
    container_id: str


class FakeProcess:
    def __init__(self, cid: str) -> None:
        self.spec = Spec(cid)
        self.cpu_ns = 0
        self.rss = 50 * 1024 * 1024

    def running(self) -> bool:
        return True

    def usage(self) -> tuple[int, int]:
        return self.cpu_ns, self.rss


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_format_window() -> None:
    assert format_window(15.0) == "15s"
    assert format_window(1.0024) == "1.002s"


def test_node_usage_reads_the_host() -> None:
    busy, used = node_usage()
    assert busy > 0 and used > 0


async def test_reports_rates_and_deletes_gone_pods(tmp_path: Path) -> None:
    clock = Clock()
    proc = FakeProcess("gitkube://uid/app/0")
    pod: dict[str, Any] = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}}
    pods: list[Any] = [(pod, {"app": proc})]
    node_cpu = [0]
    async with running_apiserver(tmp_path / "d") as (_s, client):
        assert POD_METRICS is not None and NODE_METRICS is not None
        reporter = MetricsReporter(client, "n1", lambda: list(pods), node_labels=lambda: {"zone": "a"},
                                   interval=2.0, clock=clock, node_sampler=lambda: (node_cpu[0], 1024 * 1024))
        await reporter.report_once()  # first sample: no rate yet
        assert (await client.list(POD_METRICS, "default"))["items"] == []
        clock.now += 2.0
        proc.cpu_ns += 1_000_000_000  # one CPU second in two seconds: 500m
        node_cpu[0] += 3_000_000_000
        await reporter.report_once()
        got = await client.get(POD_METRICS, "web", "default")
        assert got["containers"] == [{"name": "app", "usage": {"cpu": "500000000n", "memory": "51200Ki"}}]
        assert got["window"] == "2s" and got["metadata"]["labels"] == {"app": "web"}
        node = await client.get(NODE_METRICS, "n1")
        assert node["usage"] == {"cpu": "1500000000n", "memory": "1024Ki"}
        assert node["metadata"]["labels"] == {"zone": "a"}
        pods.clear()
        await reporter.report_once()
        try:
            await client.get(POD_METRICS, "web", "default")
        except errors.NotFound:
            pass
        else:
            raise AssertionError("metrics of a gone pod are still served")

