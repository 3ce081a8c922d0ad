"""The HPA replica calculator: from pod metrics and pods to a proposed replica count.

A port of kube-controller-manager's ``podautoscaler/replica_calculator.go`` for Resource
metrics (cpu, memory):

- ``pod_metrics`` turns PodMetrics objects into one value per pod in milli-units (the sum of
  its containers, or one container), as the resource metrics client does;
- ``group_pods`` sorts the targeted pods: deleted, failed and pending ones are ignored; pods
  without a sample are "missing"; for cpu, pods not ready (or, within the 5 minute cpu
  initialization period, sampled less than one window after turning ready; or never ready
  since 30 s after start) are "unready";
- ``utilization_replicas`` (target Utilization against requests) and ``average_value_replicas``
  (target AverageValue) compute the usage ratio over the ready pods; inside the tolerance
  (0.1) nothing changes; otherwise missing pods count as 100% (scale down) or 0 (scale up),
  unready pods as 0 when scaling up, and a change that this conservative view reverses or
  shrinks inside the tolerance is dropped.

Pure: times are passed in (seconds since the epoch). Used by ``gitkube.controllers.hpa``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gitkube import errors
from gitkube.api import meta
from gitkube.api.quantity import QuantityError, parse_quantity
from gitkube.util import duration

__all__ = [
    "CPU_INITIALIZATION_PERIOD",
    "INITIAL_READINESS_DELAY",
    "TOLERANCE",
    "MetricsError",
    "PodGroups",
    "PodMetric",
    "average_value_replicas",
    "group_pods",
    "pod_metrics",
    "pod_requests",
    "timestamp",
    "utilization_replicas",
]

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0

Obj = dict[str, Any]


class MetricsError(errors.GitkubeError):
    """No usable metric: the message is the one kube-controller-manager reports."""


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units (millicores, or bytes x 1000)
    timestamp: float
    window: float


@dataclass
class PodGroups:
    ready: int
    unready: set[str]
    missing: set[str]
    ignored: set[str]


def timestamp(text: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time, None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return meta.parse_time(text).timestamp()
    except ValueError:
        return None


def _milli(value: Any) -> int | None:
    try:
        return parse_quantity(value).milli_value()
    except (QuantityError, TypeError, ValueError):
        return None


def pod_metrics(items: Iterable[Obj], resource: str, container: str | None = None) -> dict[str, PodMetric]:
    """One value per pod name; a pod with a container lacking the resource is left out."""
    out: dict[str, PodMetric] = {}
    for item in items:
        name = str((item.get("metadata") or {}).get("name") or "")
        total, found, complete = 0, False, True
        for c in item.get("containers") or []:
            if container is not None and c.get("name") != container:
                continue
            value = _milli((c.get("usage") or {}).get(resource))
            if value is None:
                complete = False
                break
            total, found = total + value, True
        if not name or not complete or not found:
            continue
        try:
            window = duration.parse(str(item.get("window") or "0s"))
        except ValueError:
            window = 0.0
        out[name] = PodMetric(total, timestamp(item.get("timestamp")) or 0.0, window)
    return out


def _ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def group_pods(pods: list[Obj], metrics: dict[str, PodMetric], resource: str, now: float) -> PodGroups:
    groups = PodGroups(0, set(), set(), set())
    for pod in pods:
        name = str(pod["metadata"].get("name"))
        status = pod.get("status") or {}
        if pod["metadata"].get("deletionTimestamp") or status.get("phase") in ("Failed", "Pending"):
            groups.ignored.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            groups.missing.add(name)
            continue
        if resource == "cpu":
            cond = _ready_condition(pod)
            started = timestamp(status.get("startTime"))
            if cond is None or started is None:
                unready = True
            else:
                since = timestamp(cond.get("lastTransitionTime")) or 0.0
                if started + CPU_INITIALIZATION_PERIOD > now:
                    unready = cond.get("status") == "False" or metric.timestamp < since + metric.window
                else:
                    unready = cond.get("status") == "False" and started + INITIAL_READINESS_DELAY > since
            if unready:
                groups.unready.add(name)
                continue
        groups.ready += 1
    return groups


def pod_requests(pods: list[Obj], resource: str, container: str | None = None) -> dict[str, int]:
    """The requests of ``resource`` per pod in milli-units; MetricsError when a container has none."""
    out: dict[str, int] = {}
    for pod in pods:
        name = str(pod["metadata"].get("name"))
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container is not None and c.get("name") != container:
                continue
            value = _milli(((c.get("resources") or {}).get("requests") or {}).get(resource))
            if value is None:
                raise MetricsError(f"missing request for {resource} in container {c.get('name')} of Pod {name}")
            total += value
        out[name] = total
    return out


def _utilization(metrics: dict[str, PodMetric], requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """(usage ratio, utilization %, average raw usage) over the pods with a request."""
    used = requested = count = 0
    for name, metric in metrics.items():
        if name not in requests:
            continue
        used, requested, count = used + metric.value, requested + requests[name], count + 1
    if requested == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = int(used * 100 / requested)
    return utilization / target, utilization, used // count


def _average(metrics: dict[str, PodMetric], target: int) -> tuple[float, int]:
    usage = sum(m.value for m in metrics.values()) // len(metrics)
    return usage / target, usage


def _replicas(current: int, metrics: dict[str, PodMetric], groups: PodGroups,
              ratio_of: Callable[[dict[str, PodMetric]], float], fill_missing: Callable[[str], int]) -> int:
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    ratio = ratio_of(metrics)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= TOLERANCE:
            return current
        return math.ceil(ratio * groups.ready)
    if groups.missing and ratio != 1.0:  # scale down: missing pods at 100%; scale up: at 0
        for name in groups.missing:
            metrics[name] = PodMetric(fill_missing(name) if ratio < 1.0 else 0, 0.0, 0.0)
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = PodMetric(0, 0.0, 0.0)
    new_ratio = ratio_of(metrics)
    if abs(1.0 - new_ratio) <= TOLERANCE or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def utilization_replicas(current: int, target_utilization: int, resource: str, pods: list[Obj],
                         metrics: dict[str, PodMetric], now: float,
                         container: str | None = None) -> tuple[int, int, int]:
    """(replicas, utilization %, average raw usage in milli-units) for a Utilization target."""
    if not metrics:
        raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                           "metrics API")
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    metrics = dict(metrics)
    groups = group_pods(pods, metrics, resource, now)
    requests = pod_requests(pods, resource, container)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    _ratio, utilization, raw = _utilization(metrics, requests, target_utilization)
    fallback = max(100, target_utilization)
    replicas = _replicas(current, metrics, groups,
                         lambda m: _utilization(m, requests, target_utilization)[0],
                         lambda name: requests.get(name, 0) * fallback // 100)
    return replicas, utilization, raw


def average_value_replicas(current: int, target_milli: int, resource: str, pods: list[Obj],
                           metrics: dict[str, PodMetric], now: float) -> tuple[int, int]:
    """(replicas, average usage in milli-units) for an AverageValue target."""
    if not metrics:
        raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                           "metrics API")
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    metrics = dict(metrics)
    groups = group_pods(pods, metrics, resource, now)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    _ratio, usage = _average(metrics, target_milli)
    replicas = _replicas(current, metrics, groups, lambda m: _average(m, target_milli)[0], lambda _n: target_milli)
    return replicas, usage
