"""Turn a request path and method into a Kubernetes ``RequestInfo``.

Ported in spirit from ``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``: the path
``/apis/apps/v1/namespaces/web/deployments/app/scale`` becomes group ``apps``, version
``v1``, namespace ``web``, resource ``deployments``, name ``app``, subresource ``scale``,
and the method plus query give the verb (get, list, watch, create, update, patch, delete,
deletecollection). The resource is resolved against ``gitkube.api.scheme``; an unknown one
raises NotFound with the Status kubectl expects.

Called by the API server's dispatcher for every ``/api`` and ``/apis`` request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitkube import errors
from gitkube.api import scheme

__all__ = ["RequestInfo", "parse"]


@dataclass(frozen=True)
class RequestInfo:
    verb: str
    info: scheme.ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    version: str


def _verb(method: str, has_name: bool, query: Mapping[str, str], legacy_watch: bool) -> str:
    watch = legacy_watch or query.get("watch", "").lower() in ("1", "true")
    if method == "GET":
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Parse a resource request path. Discovery paths are handled before this is called."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        raise errors.NotFound("the server could not find the requested resource")
    if parts[0] == "api":
        group, rest = "", parts[1:]
    else:
        if len(parts) < 2:
            raise errors.NotFound("the server could not find the requested resource")
        group, rest = parts[1], parts[2:]
    if not rest:
        raise errors.NotFound("the server could not find the requested resource")
    version, rest = rest[0], rest[1:]
    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
    if not rest:
        raise errors.NotFound("the server could not find the requested resource")

    namespace: str | None = None
    # /namespaces/{ns}/{resource}... but /namespaces and /namespaces/{name}[/status] address
    # the namespace objects themselves.
    namespace_subresource = len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise errors.NotFound("the server could not find the requested resource")

    if (group, version, resource) == ("", "v1", "bindings") and namespace and name is None and method == "POST":
        # POST .../namespaces/NS/bindings (a Binding naming its pod) is the older spelling of
        # pods/NAME/binding; the kubernetes client's create_namespaced_binding uses it.
        pods = scheme.by_plural("", "pods")
        assert pods is not None
        return RequestInfo(verb="create", info=pods, namespace=namespace, name=None,
                           subresource="binding", version=version)
    info = scheme.by_plural(group, resource)
    if info is None or info.version != version:
        raise errors.NotFound(
            "the server could not find the requested resource", kind=resource, group=group
        )
    if info.kind == "Namespace" and namespace is None and rest[0] == "namespaces":
        pass
    elif not info.namespaced and namespace is not None:
        raise errors.NotFound("the server could not find the requested resource", kind=resource)
    if subresource is not None and info.subresource(subresource) is None:
        if not (info.kind == "Namespace" and subresource == "finalize"):
            raise errors.NotFound(
                "the server could not find the requested resource", kind=f"{resource}/{subresource}"
            )
    verb = _verb(method, name is not None, query, legacy_watch)
    return RequestInfo(
        verb=verb, info=info, namespace=namespace, name=name, subresource=subresource, version=version
    )
