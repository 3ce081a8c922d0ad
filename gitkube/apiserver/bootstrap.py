"""Objects every cluster starts with, created at API server start when missing.

The namespaces ``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease``, and the
``kubernetes`` Service in ``default`` on the first address of the service range with its
Endpoints pointing at the API server, as kube-apiserver's bootstrap controller keeps them.
Idempotent; runs through the registry so the objects are defaulted and validated like any.
Called by ``server.APIServer.start``.
"""

from __future__ import annotations

from typing import Any

from gitkube import errors
from gitkube.api import scheme
from gitkube.apiserver import registry as reg

__all__ = ["DEFAULT_NAMESPACES", "ensure_defaults"]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def _create_if_missing(registry: reg.Registry, plural: str, namespace: str | None, obj: dict[str, Any]) -> None:
    info = scheme.by_plural("", plural)
    assert info is not None
    try:
        await registry.get(info, namespace, obj["metadata"]["name"])
        return
    except errors.NotFound:
        pass
    try:
        await registry.create(info, namespace, obj, reg.WriteOptions(field_manager="kube-apiserver"))
    except errors.AlreadyExists:
        pass


async def ensure_defaults(registry: reg.Registry, host: str, port: int) -> None:
    for name in DEFAULT_NAMESPACES:
        await _create_if_missing(registry, "namespaces", None, {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        })
    await _create_if_missing(registry, "services", "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": registry.ips.first,
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    })
    address = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    subsets = [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    await _create_if_missing(registry, "endpoints", "default", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": subsets,
    })
    # The API server may listen elsewhere than last time: keep its Endpoints and the
    # Service's targetPort pointing at where it is now (a no-op write when unchanged).
    endpoints = scheme.by_plural("", "endpoints")
    services = scheme.by_plural("", "services")
    assert endpoints is not None and services is not None

    def point_here(live: dict[str, Any]) -> dict[str, Any]:
        live["subsets"] = subsets
        return live

    def target_here(live: dict[str, Any]) -> dict[str, Any]:
        for p in live.get("spec", {}).get("ports") or []:
            if p.get("name") == "https":
                p["targetPort"] = port
        return live

    opts = reg.WriteOptions(field_manager="kube-apiserver")
    await registry.mutate(endpoints, "default", "kubernetes", point_here, opts)
    await registry.mutate(services, "default", "kubernetes", target_here, opts)
