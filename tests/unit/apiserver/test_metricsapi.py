"""The in-memory metrics.k8s.io cache: samples expire after three windows (30 s at least)."""

from __future__ import annotations

from gitkube.api import scheme
from gitkube.apiserver.metricsapi import MetricsCache

POD_METRICS = scheme.by_gvk("metrics.k8s.io", "v1beta1", "PodMetrics")
NODE_METRICS = scheme.by_gvk("metrics.k8s.io", "v1beta1", "NodeMetrics")


def test_samples_expire_and_lists_are_per_kind_and_namespace() -> None:
    now = [0.0]
    cache = MetricsCache(clock=lambda: now[0])
    assert POD_METRICS is not None and NODE_METRICS is not None
    cache.put(POD_METRICS, "a", "p1", {"window": "15s", "metadata": {"name": "p1"}})
    cache.put(POD_METRICS, "b", "p2", {"window": "1s", "metadata": {"name": "p2"}})
    cache.put(NODE_METRICS, None, "n1", {"window": "15s", "metadata": {"name": "n1"}})
    assert [o["metadata"]["name"] for o in cache.list(POD_METRICS, None)] == ["p1", "p2"]
    assert [o["metadata"]["name"] for o in cache.list(POD_METRICS, "b")] == ["p2"]
    now[0] = 31.0  # p2's window is 1 s: kept 30 s; p1's is 15 s: kept 45 s
    assert [o["metadata"]["name"] for o in cache.list(POD_METRICS, None)] == ["p1"]
    assert cache.get(POD_METRICS, "b", "p2") is None
    now[0] = 46.0
    assert cache.list(POD_METRICS, None) == [] and cache.get(NODE_METRICS, None, "n1") is None
    assert not cache.delete(POD_METRICS, "a", "p1")
