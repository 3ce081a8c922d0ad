"""The resource metrics API (``metrics.k8s.io/v1beta1``): PodMetrics and NodeMetrics.

In Kubernetes, metrics-server scrapes the kubelets and keeps only the latest sample of each
pod and node in memory; the API server proxies ``metrics.k8s.io`` to it. gitkube keeps the
same model inside its API server: node agents (``gitkube.agent.metrics``) push their samples
with ``PUT .../metrics.k8s.io/v1beta1/[namespaces/NS/]pods|nodes/NAME`` (a non-read-only
token is needed, as for every write) and :class:`MetricsCache` holds the latest one per
object until it expires (three windows, at least 30 s) or the agent deletes it. Nothing is
written to the store: samples every few seconds would churn its history and wake every
watcher for data that is worthless a minute later.

Reads are what ``kubectl top`` and the HPA controller ask: get and list, with label and field
selectors, across namespaces, as JSON or as a Table. ``watch`` is refused as metrics-server
refuses it.

Called by ``gitkube.apiserver.handlers`` for every request of the ``metrics.k8s.io`` group.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.apiserver import codec, table
from gitkube.apiserver.requestinfo import RequestInfo
from gitkube.util import duration

__all__ = ["MIN_TTL", "MetricsCache", "cache_for", "handle"]

MIN_TTL = 30.0
"""Seconds a sample is served at least, whatever its window."""

Obj = dict[str, Any]


@dataclass
class _Entry:
    obj: Obj
    expires: float


def _window_seconds(obj: Obj) -> float:
    try:
        return max(0.0, duration.parse(str(obj.get("window") or "0s")))
    except ValueError:
        return 0.0


class MetricsCache:
    """The latest PodMetrics/NodeMetrics per object, each expiring on its own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str | None, str], _Entry] = {}

    def put(self, info: scheme.ResourceInfo, namespace: str | None, name: str, obj: Obj) -> None:
        ttl = max(MIN_TTL, 3 * _window_seconds(obj))
        self._entries[(info.kind, namespace, name)] = _Entry(obj, self._clock() + ttl)

    def delete(self, info: scheme.ResourceInfo, namespace: str | None, name: str) -> bool:
        return self._entries.pop((info.kind, namespace, name), None) is not None

    def get(self, info: scheme.ResourceInfo, namespace: str | None, name: str) -> Obj | None:
        entry = self._entries.get((info.kind, namespace, name))
        if entry is None or entry.expires <= self._clock():
            return None
        return entry.obj

    def list(self, info: scheme.ResourceInfo, namespace: str | None) -> list[Obj]:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
        found = [(k, e.obj) for k, e in self._entries.items()
                 if k[0] == info.kind and (namespace is None or k[1] == namespace)]
        return [obj for _key, obj in sorted(found, key=lambda item: (item[0][1] or "", item[0][2]))]


_CACHES: weakref.WeakKeyDictionary[object, MetricsCache] = weakref.WeakKeyDictionary()


def cache_for(owner: object) -> MetricsCache:
    """The cache of one API server (keyed by its registry, so in-process test servers stay apart)."""
    cache = _CACHES.get(owner)
    if cache is None:
        cache = _CACHES[owner] = MetricsCache()
    return cache


def _not_found(info: scheme.ResourceInfo, namespace: str | None, name: str) -> errors.NotFound:
    shown = f"{namespace}/{name}" if namespace else name
    return errors.NotFound(f'{info.kind.lower()}.{info.group} "{shown}" not found',
                           kind=info.plural, name=name, group=info.group)


def _check_pushed(ri: RequestInfo, obj: Obj) -> Obj:
    info = ri.info
    if obj.get("kind") not in (None, info.kind) or obj.get("apiVersion") not in (None, info.api_version):
        raise errors.BadRequest(f"the body must be a {info.api_version} {info.kind}")
    m = obj.get("metadata")
    if not isinstance(m, dict) or m.get("name") != ri.name:
        raise errors.BadRequest(f"metadata.name must be {ri.name!r}, the name in the URL")
    if info.namespaced and m.get("namespace") not in (None, ri.namespace):
        raise errors.BadRequest("metadata.namespace does not match the namespace in the URL")
    usage_holder = obj.get("containers") if info.namespaced else obj.get("usage")
    if not isinstance(usage_holder, list if info.namespaced else dict):
        raise errors.BadRequest("containers must be a list" if info.namespaced else "usage must be an object")
    out = {**obj, "kind": info.kind, "apiVersion": info.api_version}
    labels = m.get("labels")
    out["metadata"] = {"name": ri.name, **({"namespace": ri.namespace} if info.namespaced else {}),
                       "creationTimestamp": meta.now(), **({"labels": dict(labels)} if isinstance(labels, dict) else {})}
    return out


def _list(request: web.Request, ri: RequestInfo, cache: MetricsCache) -> web.Response:
    q = request.query
    label_sel = selectors.parse_label_selector(q.get("labelSelector"))
    field_sel = selectors.parse_field_selector(q.get("fieldSelector"))
    items = [obj for obj in cache.list(ri.info, ri.namespace)
             if label_sel.matches_object(obj) and field_sel.matches(obj)]
    if table.wants_table(request.headers.get("Accept")):
        tbl = table.to_table(ri.info, items, include_object=q.get("includeObject", "Metadata"), list_meta={})
        return codec.json_response(tbl, content_type=table.TABLE_CONTENT_TYPE)
    return codec.json_response({"kind": ri.info.kind_list, "apiVersion": ri.info.api_version, "metadata": {},
                                "items": items})


async def handle(request: web.Request, ri: RequestInfo, owner: object) -> web.Response:
    """Answer one ``metrics.k8s.io`` request (authentication and authorization already done).

    ``owner`` identifies the API server whose cache is meant (its registry)."""
    cache = cache_for(owner)
    info = ri.info
    if ri.subresource:
        raise errors.NotFound("the server could not find the requested resource")
    if ri.verb == "list":
        return _list(request, ri, cache)
    assert ri.name is not None or ri.verb not in ("get", "update", "delete")
    if ri.verb == "get":
        assert ri.name is not None
        obj = cache.get(info, ri.namespace, ri.name)
        if obj is None:
            raise _not_found(info, ri.namespace, ri.name)
        if table.wants_table(request.headers.get("Accept")):
            tbl = table.to_table(info, [obj], include_object=request.query.get("includeObject", "Metadata"),
                                 list_meta={})
            return codec.json_response(tbl, content_type=table.TABLE_CONTENT_TYPE)
        return codec.json_response(obj)
    if ri.verb == "update":  # a node agent's sample
        assert ri.name is not None
        if info.namespaced and not ri.namespace:
            raise errors.NotFound("the server could not find the requested resource")
        obj = _check_pushed(ri, await codec.read_object(request))
        cache.put(info, ri.namespace, ri.name, obj)
        return codec.json_response(obj)
    if ri.verb == "delete":  # the pod is gone from the agent's node
        assert ri.name is not None
        if not cache.delete(info, ri.namespace, ri.name):
            raise _not_found(info, ri.namespace, ri.name)
        return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    raise errors.MethodNotAllowed(f"the server does not allow this method on the requested resource "
                                  f"({ri.verb} {info.plural}.{info.group})")
