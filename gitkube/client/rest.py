"""A typed-enough Kubernetes REST client over a transport.

``Client`` knows the URL layout of every kind in ``gitkube.api.scheme`` and speaks the
verbs controllers, the scheduler, the node agent, the proxy and the GitOps engine need:
get, list, create, update (and ``update_status``), patch in the four patch types, delete
with propagation and preconditions, the ``binding``/``eviction`` subresources, and watch
as an async iterator of ``(type, object)``. Objects are plain dicts, exactly the JSON the
API serves. Errors are ``gitkube.errors.APIError`` subclasses (NotFound, Conflict, Gone...).

Resources are named by ``ResourceInfo`` or by anything ``scheme.resolve`` accepts
("pods", "deploy", "Deployment").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gitkube import errors
from gitkube.api import scheme
from gitkube.client.transport import HTTPTransport

__all__ = ["Client", "PatchType", "WatchEvent", "path_for"]

PatchType = Literal["merge", "strategic", "json", "apply"]
_PATCH_CONTENT = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: dict[str, Any]


def _info(resource: scheme.ResourceInfo | str) -> scheme.ResourceInfo:
    if isinstance(resource, scheme.ResourceInfo):
        return resource
    info = scheme.resolve(resource) or next((r for r in scheme.ALL_RESOURCES if r.kind == resource), None)
    if info is None:
        raise errors.NotFound(f'the server doesn\'t have a resource type "{resource}"')
    return info


def path_for(info: scheme.ResourceInfo, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
    """The REST path of a collection, an object or a subresource."""
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced and namespace:
        root += f"/namespaces/{namespace}"
    path = f"{root}/{info.plural}"
    if name:
        path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
    return path


def _ns_name(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    m = obj.get("metadata") or {}
    return m.get("namespace"), str(m.get("name", ""))


class Client:
    def __init__(self, transport: HTTPTransport, *, field_manager: str = "gitkube") -> None:
        self.transport = transport
        self.field_manager = field_manager

    async def close(self) -> None:
        await self.transport.close()

    def _write_query(self, dry_run: bool, field_manager: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        q = {"fieldManager": field_manager or self.field_manager}
        if dry_run:
            q["dryRun"] = "All"
        q.update(extra or {})
        return q

    async def get(self, resource: scheme.ResourceInfo | str, name: str, namespace: str | None = None,
                  *, subresource: str | None = None) -> dict[str, Any]:
        info = _info(resource)
        resp = await self.transport.request("GET", path_for(info, namespace, name, subresource))
        return dict(resp.json())

    async def list(self, resource: scheme.ResourceInfo | str, namespace: str | None = None, *,
                   label_selector: str = "", field_selector: str = "", resource_version: str = "",
                   limit: int = 0) -> dict[str, Any]:
        """The whole list (following ``continue`` when ``limit`` pages it)."""
        info = _info(resource)
        query: dict[str, str] = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        if resource_version:
            query["resourceVersion"] = resource_version
        if limit:
            query["limit"] = str(limit)
        items: list[dict[str, Any]] = []
        while True:
            body = dict((await self.transport.request("GET", path_for(info, namespace), query=query)).json())
            items.extend(body.get("items") or [])
            cont = (body.get("metadata") or {}).get("continue")
            if not cont:
                body["items"] = items
                return body
            query = {**query, "continue": cont}
            query.pop("resourceVersion", None)

    async def create(self, resource: scheme.ResourceInfo | str, obj: Mapping[str, Any], namespace: str | None = None,
                     *, dry_run: bool = False, field_manager: str | None = None) -> dict[str, Any]:
        info = _info(resource)
        ns = namespace or _ns_name(obj)[0] or ("default" if info.namespaced else None)
        resp = await self.transport.request("POST", path_for(info, ns), query=self._write_query(dry_run, field_manager),
                                            body=json.dumps(obj).encode())
        return dict(resp.json())

    async def update(self, resource: scheme.ResourceInfo | str, obj: Mapping[str, Any], *, subresource: str | None = None,
                     dry_run: bool = False, field_manager: str | None = None) -> dict[str, Any]:
        """PUT; the object's ``metadata.resourceVersion`` is the precondition (409 if stale)."""
        info = _info(resource)
        ns, name = _ns_name(obj)
        resp = await self.transport.request("PUT", path_for(info, ns, name, subresource),
                                            query=self._write_query(dry_run, field_manager), body=json.dumps(obj).encode())
        return dict(resp.json())

    async def update_status(self, resource: scheme.ResourceInfo | str, obj: Mapping[str, Any], *,
                            field_manager: str | None = None) -> dict[str, Any]:
        return await self.update(resource, obj, subresource="status", field_manager=field_manager)

    async def patch(self, resource: scheme.ResourceInfo | str, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: PatchType = "merge", subresource: str | None = None, dry_run: bool = False,
                    field_manager: str | None = None, force: bool = False) -> dict[str, Any]:
        info = _info(resource)
        extra = {"force": "true"} if force else None
        resp = await self.transport.request(
            "PATCH", path_for(info, namespace, name, subresource), query=self._write_query(dry_run, field_manager, extra),
            body=json.dumps(patch).encode(), content_type=_PATCH_CONTENT[patch_type])
        return dict(resp.json())

    async def delete(self, resource: scheme.ResourceInfo | str, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     uid: str | None = None, resource_version: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        info = _info(resource)
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            body["preconditions"] = pre
        if dry_run:
            body["dryRun"] = ["All"]
        resp = await self.transport.request("DELETE", path_for(info, namespace, name), body=json.dumps(body).encode())
        return dict(resp.json())

    async def bind(self, pod_namespace: str, pod_name: str, node_name: str, *, uid: str | None = None) -> None:
        """POST pods/NAME/binding, as the scheduler does."""
        binding: dict[str, Any] = {"apiVersion": "v1", "kind": "Binding",
                                   "metadata": {"name": pod_name, "namespace": pod_namespace},
                                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        if uid:
            binding["metadata"]["uid"] = uid
        pods = _info("pods")
        await self.transport.request("POST", path_for(pods, pod_namespace, pod_name, "binding"),
                                     query={"fieldManager": self.field_manager}, body=json.dumps(binding).encode())

    async def evict(self, pod_namespace: str, pod_name: str) -> None:
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod_name, "namespace": pod_namespace}}
        await self.transport.request("POST", path_for(_info("pods"), pod_namespace, pod_name, "eviction"),
                                     body=json.dumps(eviction).encode())

    async def watch(self, resource: scheme.ResourceInfo | str, namespace: str | None = None, *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` ("" or "0": first an ADDED per existing object).
        An expired resourceVersion raises ``errors.Gone`` (from the ERROR event)."""
        info = _info(resource)
        query = {"watch": "true"}
        if resource_version:
            query["resourceVersion"] = resource_version
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        if timeout_seconds is not None:
            query["timeoutSeconds"] = str(timeout_seconds)
        if allow_bookmarks:
            query["allowWatchBookmarks"] = "true"
        async for line in self.transport.stream_lines(path_for(info, namespace), query=query):
            event = json.loads(line)
            if event.get("type") == "ERROR":
                raise errors.from_status(event.get("object") or {})
            yield WatchEvent(str(event["type"]), dict(event["object"]))
