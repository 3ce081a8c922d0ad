"""API discovery documents: aggregated (apidiscovery.k8s.io v2/v2beta1) and legacy.

kubectl asks ``/api`` and ``/apis`` for the aggregated form and picks the reader by the
reply's Content-Type, not by ``kind`` (KUBECTL-COMPAT.md §2.2): so ``negotiate`` returns the
exact media type to answer with. Legacy ``APIVersions``/``APIGroupList``/``APIResourceList``
are served for clients that do not ask for aggregation (the kubernetes Python package).

Pure functions over ``gitkube.api.scheme``; the documents are built once per process and
cached by the server. Called by ``gitkube.apiserver.server``.
"""

from __future__ import annotations

from typing import Any

from gitkube.api import scheme

__all__ = [
    "aggregated",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "negotiate",
]

_AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def negotiate(accept: str) -> str | None:
    """The aggregated discovery version the client accepts ("v2", "v2beta1"), or None."""
    compact = accept.replace(" ", "")
    if "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" in compact:
        return "v2"
    if "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList" in compact:
        return "v2beta1"
    return None


def content_type(version: str) -> str:
    return _AGG_V2 if version == "v2" else _AGG_V2BETA1


def _resource_entry(r: scheme.ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {
                "subresource": s.name,
                "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                "verbs": list(s.verbs),
            }
            for s in r.subresources
        ]
    return entry


def aggregated(core: bool, version: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList for ``/api`` (core=True) or ``/apis``."""
    items: list[dict[str, Any]] = []
    for group, ver in scheme.group_versions():
        if (group == "") != core:
            continue
        resources = [
            _resource_entry(r) for r in scheme.SERVED_RESOURCES if r.group == group and r.version == ver
        ]
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [{"version": ver, "freshness": "Current", "resources": resources}],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str) -> dict[str, Any] | None:
    versions = [v for g, v in scheme.group_versions() if g == group and g]
    if not versions:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": gvs,
        "preferredVersion": gvs[0],
    }


def api_group_list() -> dict[str, Any]:
    groups = []
    for group in dict.fromkeys(g for g, _ in scheme.group_versions() if g):
        doc = api_group(group)
        assert doc is not None
        doc.pop("kind")
        doc.pop("apiVersion")
        groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    members = [r for r in scheme.SERVED_RESOURCES if r.group == group and r.version == version]
    if not members:
        return None
    resources: list[dict[str, Any]] = []
    for r in members:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for s in r.subresources:
            sub: dict[str, Any] = {
                "name": f"{r.plural}/{s.name}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": list(s.verbs),
            }
            if (s.group, s.version) != (r.group, r.version):
                sub["group"], sub["version"] = s.group, s.version
            resources.append(sub)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
