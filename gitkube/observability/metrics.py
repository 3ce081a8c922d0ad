"""Prometheus metrics of one daemon, in one ``CollectorRegistry`` per API server (never the global
one, so several API servers can run in one process, as the tests do).

Series, named as kube-apiserver, client-go and Argo CD name theirs:

- ``apiserver_request_duration_seconds`` histogram and ``apiserver_request_total`` counter, labels
  ``verb`` (get, list, watch, create, update, patch, delete, deletecollection: the RBAC verbs of the
  request; non-resource paths use the lower-case HTTP method), ``group``, ``version``, ``resource``,
  ``subresource`` (for non-resource paths: the path, e.g. ``/healthz``, ``/metrics``), ``scope``
  (resource, namespace, cluster) and, on the counter only, ``code``. A watch is observed when its
  stream ends, as kube-apiserver does; a request the client abandons is counted with code 499
  (200 for a watch, whose headers were sent). Measured in the API server's request middleware.
- ``gitkube_sync_duration_seconds`` histogram and ``gitkube_sync_total`` counter by ``outcome``
  (Synced, Failed, RolledBack); ``gitkube_rollbacks_total`` by ``trigger`` (automatic: a failed
  health check; manual: ``gitkube rollback``); ``gitkube_drift_detected_total`` by ``kind``;
  ``gitkube_sync_info{commit, branch, state}`` = 1, read from the engine at scrape time.
- ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``,
  ``workqueue_queue_duration_seconds`` and ``workqueue_work_duration_seconds`` by ``name`` (the
  controller's name, e.g. ``replicaset-controller``), as client-go's workqueue metrics provider.
- ``gitkube_pods{phase}``: pods by phase (Pending, Running, Succeeded, Failed, Unknown), counted at
  scrape time from the API server's own store (only the API server touches the store), so the
  number is exact without a second watch.
- ``process_*``, ``python_gc_*``, ``python_info``: the client library's process collectors.

Built by ``gitkube.apiserver.server.APIServer`` (served at ``GET /metrics``); ``gitkube.app`` hands
``queue(name)`` to the work queues and the engine's metrics to the GitOps engine.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

__all__ = ["POD_PHASES", "Metrics", "QueueMetrics", "RequestInfoLike", "ResourceLike"]

POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")

# kube-apiserver's buckets for apiserver_request_duration_seconds
_REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
                    8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
# client-go's workqueue buckets: 10 ns to 10 s, by powers of ten
_QUEUE_BUCKETS = tuple(10.0 ** e for e in range(-8, 2))
_SYNC_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Non-resource paths get their own label value; anything else is "other" (bounded cardinality)
_KNOWN_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2", "/openapi/v3")

PodSource = Callable[[], Awaitable[Iterable[Mapping[str, Any]]]]
InfoSource = Callable[[], Mapping[str, Any]]


class ResourceLike(Protocol):
    @property
    def group(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


class RequestInfoLike(Protocol):
    """What the request middleware needs of ``gitkube.apiserver.requestinfo.RequestInfo``."""

    @property
    def verb(self) -> str: ...
    @property
    def info(self) -> ResourceLike: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def subresource(self) -> str | None: ...
    @property
    def version(self) -> str: ...


class QueueMetrics:
    """One work queue's series (the children bound to its ``name``); see ``client.workqueue``."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self._depth = metrics.queue_depth.labels(name)
        self._adds = metrics.queue_adds.labels(name)
        self._retries = metrics.queue_retries.labels(name)
        self._waited = metrics.queue_latency.labels(name)
        self._worked = metrics.work_duration.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def depth(self, n: int) -> None:
        self._depth.set(n)

    def waited(self, seconds: float) -> None:
        self._waited.observe(seconds)

    def worked(self, seconds: float) -> None:
        self._worked.observe(seconds)


class _PodsCollector(Collector):
    """``gitkube_pods{phase}`` from the counts of the last :meth:`Metrics.refresh`."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(POD_PHASES, 0)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("gitkube_pods", "Pods by phase, counted at scrape time.", labels=["phase"])
        for phase, count in sorted(self.counts.items()):
            family.add_metric([phase], count)
        yield family


class _SyncInfoCollector(Collector):
    """``gitkube_sync_info{commit, branch, state} 1`` from the engine's status at scrape time."""

    def __init__(self) -> None:
        self.source: InfoSource | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("gitkube_sync_info", "The commit applied, the branch followed and the sync state.",
                                   labels=["commit", "branch", "state"])
        if self.source is not None:
            status = self.source()
            family.add_metric([str(status.get("commit", "")), str(status.get("branch", "")),
                               str(status.get("syncState", ""))], 1)
        yield family


class Metrics:
    """Every series of one daemon (see the module doc) and its exposition."""

    def __init__(self, *, process: bool = True) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource and scope.",
            ["verb", "group", "version", "resource", "subresource", "scope"], buckets=_REQUEST_BUCKETS, registry=r)
        self.request_total = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, group, version, resource, scope and HTTP code.",
            ["verb", "group", "version", "resource", "subresource", "scope", "code"], registry=r)
        self.sync_duration = Histogram("gitkube_sync_duration_seconds", "Duration of GitOps syncs by outcome.",
                                       ["outcome"], buckets=_SYNC_BUCKETS, registry=r)
        self.sync_total = Counter("gitkube_sync_total", "GitOps syncs by outcome.", ["outcome"], registry=r)
        self.rollbacks = Counter("gitkube_rollbacks_total",
                                 "Rollbacks: automatic (a failed sync) or manual (gitkube rollback).",
                                 ["trigger"], registry=r)
        self.drift = Counter("gitkube_drift_detected_total", "Changes made outside git to objects gitkube owns.",
                             ["kind"], registry=r)
        self.queue_depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=r)
        self.queue_adds = Counter("workqueue_adds_total", "Total number of adds handled by workqueue",
                                  ["name"], registry=r)
        self.queue_retries = Counter("workqueue_retries_total", "Total number of retries handled by workqueue",
                                     ["name"], registry=r)
        self.queue_latency = Histogram("workqueue_queue_duration_seconds",
                                       "How long in seconds an item stays in workqueue before being requested.",
                                       ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self.work_duration = Histogram("workqueue_work_duration_seconds",
                                       "How long in seconds processing an item from workqueue takes.",
                                       ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self._pods = _PodsCollector()
        self._info = _SyncInfoCollector()
        r.register(self._pods)
        r.register(self._info)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self._pod_source: PodSource | None = None
        self._pods_fresh_until = 0.0
        self._prefixes: list[str] = []
        self._hist: dict[tuple[str, ...], Any] = {}
        self._count: dict[tuple[str, ...], Any] = {}

    # -- wiring -----------------------------------------------------------------------------------

    def set_pod_source(self, source: PodSource) -> None:
        """``source()`` lists every pod; called at each scrape for ``gitkube_pods``."""
        self._pod_source = source

    def set_sync_info(self, source: InfoSource) -> None:
        """``source()`` is the engine's status (``commit``, ``branch``, ``syncState``)."""
        self._info.source = source

    def add_path_prefix(self, prefix: str) -> None:
        """A mounted path prefix (``/gitkube/``, ``/git/``...) that non-resource requests are labelled by."""
        self._prefixes.append(prefix)

    def queue(self, name: str) -> QueueMetrics:
        return QueueMetrics(self, name)

    # -- the API server -------------------------------------------------------------------------

    def non_resource_path(self, path: str) -> str:
        """The ``subresource`` label of a request outside the resource paths: a bounded set."""
        path = path.rstrip("/") or "/"
        if path in _KNOWN_PATHS:
            return path
        if path.startswith("/openapi/v3/"):
            return "/openapi/v3"
        for prefix in self._prefixes:
            if path == prefix.rstrip("/") or path.startswith(prefix):
                return prefix.rstrip("/")
        for top in ("/apis", "/api"):
            if path == top or path.startswith(top + "/"):
                return top
        return "other"

    def observe_request(self, method: str, path: str, info: RequestInfoLike | None, code: int,
                        seconds: float) -> None:
        """Count and time one request; ``info`` is None outside the resource paths (and when the
        request failed before its path was parsed, e.g. a 401)."""
        if info is None:
            labels: tuple[str, ...] = (method.lower(), "", "", "", self.non_resource_path(path), "")
        else:
            if info.name is not None:
                scope = "resource"
            elif info.namespace is not None and info.info.namespaced:
                scope = "namespace"
            else:
                scope = "cluster"
            labels = (info.verb, info.info.group, info.version, info.info.plural, info.subresource or "", scope)
        hist = self._hist.get(labels)
        if hist is None:
            hist = self._hist[labels] = self.request_duration.labels(*labels)
        hist.observe(seconds)
        key = (*labels, str(code))
        counter = self._count.get(key)
        if counter is None:
            counter = self._count[key] = self.request_total.labels(*key)
        counter.inc()

    # -- the GitOps engine ------------------------------------------------------------------------

    def observe_sync(self, outcome: str, seconds: float) -> None:
        self.sync_duration.labels(outcome).observe(seconds)
        self.sync_total.labels(outcome).inc()

    def count_rollback(self, trigger: str) -> None:
        self.rollbacks.labels(trigger).inc()

    def count_drift(self, kind: str) -> None:
        self.drift.labels(kind).inc()

    # -- exposition -------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Recount what is computed at scrape time (pods by phase). A count that took over 0.1 s
        is reused for ten times as long as it took, so frequent scrapes of a large cluster spend
        at most a tenth of the daemon's time counting (5,000 pods take about 1 s)."""
        if self._pod_source is None:
            return
        started = time.monotonic()
        if started < self._pods_fresh_until:
            return
        counts: collections.Counter[str] = collections.Counter()
        for pod in await self._pod_source():
            phase = str((pod.get("status") or {}).get("phase") or "Pending")
            counts[phase if phase in POD_PHASES else "Unknown"] += 1
        self._pods.counts = {phase: counts.get(phase, 0) for phase in POD_PHASES}
        took = time.monotonic() - started
        self._pods_fresh_until = time.monotonic() + (10 * took if took > 0.1 else 0.0)

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape body and its content type (Prometheus text, or OpenMetrics when accepted)."""
        await self.refresh()
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
