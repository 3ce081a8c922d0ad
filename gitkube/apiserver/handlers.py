"""Resource verbs over HTTP: get, list, create, update, patch, delete, deletecollection.

One entry point, ``handle(request, ri)``, takes a parsed ``RequestInfo`` and answers as
kube-apiserver does: 201 for creates (SSA included), Tables when asked, ``dryRun=All`` on
every write, ``fieldManager``/``fieldValidation``/``force`` on writes. Watches go to
``watch``; the scale/status/binding/log/eviction subresources to ``subresources``.

Called by ``server``; calls ``registry``, ``deletion`` and the patch package.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.apiserver import codec, deletion, metricsapi, subresources, table, watch
from gitkube.apiserver import registry as reg
from gitkube.apiserver.options import write_options
from gitkube.apiserver.patch import apply as ssa
from gitkube.apiserver.patch import apply_patch
from gitkube.apiserver.requestinfo import RequestInfo

__all__ = ["handle", "list_body"]


def _query(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items()}


def list_body(ri: RequestInfo, result: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(result.revision)}
    if result.continue_token:
        meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
    return {"kind": ri.info.kind_list, "apiVersion": ri.info.api_version, "metadata": meta, "items": result.items}


def _render(request: web.Request, ri: RequestInfo, obj: dict[str, Any], status: int = 200,
            warnings: list[str] | None = None) -> web.Response:
    if table.wants_table(request.headers.get("Accept")) and request.method == "GET":
        body = table.to_table(ri.info, [obj], include_object=request.query.get("includeObject", "Metadata"),
                              list_meta={"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")})
        return codec.json_response(body, status, content_type=table.TABLE_CONTENT_TYPE)
    return codec.json_response(obj, status, warnings=warnings)


async def _list(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.Response:
    q = request.query
    rv = q.get("resourceVersion", "")
    limit_text = q.get("limit", "0") or "0"
    try:
        limit = max(0, int(limit_text))
    except ValueError:
        raise errors.BadRequest(f"invalid limit: {limit_text!r}") from None
    label_sel = selectors.parse_label_selector(q.get("labelSelector"))
    field_sel = selectors.parse_field_selector(q.get("fieldSelector"))
    if rv and rv != "0" and not q.get("continue"):
        try:
            wanted = int(rv)
        except ValueError:
            raise errors.BadRequest(f'invalid resource version "{rv}"') from None
        current = await registry.store.current_revision()
        if wanted > current:
            raise errors.Gone(f"Timeout: Too large resource version: {wanted}, current: {current}", retry_after=1)
    result = await registry.list(
        ri.info, ri.namespace, label_selector=label_sel, field_selector=field_sel,
        limit=limit, continue_token=q.get("continue", ""),
    )
    body = list_body(ri, result)
    if table.wants_table(request.headers.get("Accept")):
        tbl = table.to_table(ri.info, result.items, include_object=q.get("includeObject", "Metadata"),
                             list_meta=body["metadata"])
        return codec.json_response(tbl, content_type=table.TABLE_CONTENT_TYPE)
    return codec.json_response(body)


async def _patch(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.Response:
    content_type = codec.media_type(request)
    if content_type not in codec.PATCH_TYPES:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(codec.PATCH_TYPES)}"
        )
    is_apply = content_type == "application/apply-patch+yaml"
    opts = write_options(request, ri, apply=is_apply)
    body = await codec.read_body(request)
    force = request.query.get("force", "false").lower() == "true"
    if force and not is_apply:
        raise errors.BadRequest("force: Invalid value: true: may not be specified for non-apply patch")
    info, name = ri.info, ri.name
    assert name is not None
    if ri.subresource == "scale":
        return await subresources.patch_scale(request, ri, registry, content_type, body, opts)
    if ri.subresource and ri.subresource != "status":
        raise errors.MethodNotAllowed(f"PATCH is not supported on {info.plural}/{ri.subresource}")
    now_applied: dict[str, Any] | None = codec.parse_yaml(body) if is_apply else None
    if is_apply and not isinstance(now_applied, dict):
        raise errors.BadRequest("the apply patch must be a single object")

    def mutate(live: dict[str, Any]) -> dict[str, Any]:
        if now_applied is not None:
            return ssa.server_side_apply(live, dict(now_applied), manager=opts.field_manager, force=force,
                                         api_version=info.api_version, kind=info.kind, now=meta.now())
        return apply_patch(content_type, live, body, info.api_version, info.kind)

    async def create() -> reg.WriteResult:
        if now_applied is None or ri.subresource:
            raise reg.not_found(info, name)
        created = ssa.server_side_apply(None, dict(now_applied), manager=opts.field_manager, force=force,
                                        api_version=info.api_version, kind=info.kind, now=meta.now())
        created.setdefault("metadata", {})["name"] = name
        return await registry.create(info, ri.namespace, created, opts)

    # apply_patch and server_side_apply never modify the live object: no copy for them.
    result = await registry.mutate(info, ri.namespace, name, mutate, opts, create_if_missing=create, copy_live=False)
    return _render(request, ri, result.object, 201 if result.created else 200, result.warnings)


async def _delete_body(request: web.Request) -> dict[str, Any] | None:
    data = await codec.read_body(request)
    if not data.strip():
        return None
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise errors.BadRequest(f"error decoding DeleteOptions: {str(exc)[:500]}") from None
    if not isinstance(body, dict):
        raise errors.BadRequest("DeleteOptions must be a JSON object")
    return body


async def handle(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.StreamResponse:
    """Answer one resource request (authentication and authorization already done)."""
    if ri.info.group == scheme.METRICS_GROUP:  # in-memory metrics, never stored
        return await metricsapi.handle(request, ri, registry)
    if ri.verb == "watch":
        return await watch.serve(request, ri, registry)
    if ri.subresource in ("log", "binding", "eviction", "scale", "finalize") and ri.verb != "patch":
        return await subresources.handle(request, ri, registry)
    if ri.verb == "get":
        assert ri.name is not None
        obj = await registry.get(ri.info, ri.namespace, ri.name)
        return _render(request, ri, obj)
    if ri.verb == "list":
        return await _list(request, ri, registry)
    if ri.verb == "create":
        if ri.name is not None:
            raise errors.MethodNotAllowed(f"POST is not supported on a named {ri.info.kind}")
        if ri.info.namespaced and not ri.namespace:
            raise errors.NotFound("the server could not find the requested resource")
        opts = write_options(request, ri)
        obj = await codec.read_object(request)
        result = await registry.create(ri.info, ri.namespace, obj, opts)
        return codec.json_response(result.object, 201, warnings=result.warnings)
    if ri.verb == "update":
        assert ri.name is not None
        opts = write_options(request, ri)
        obj = await codec.read_object(request)
        result = await registry.mutate(ri.info, ri.namespace, ri.name, lambda _live: obj, opts, copy_live=False)
        return codec.json_response(result.object, 200, warnings=result.warnings)
    if ri.verb == "patch":
        return await _patch(request, ri, registry)
    if ri.verb == "delete":
        assert ri.name is not None
        del_opts = deletion.DeleteOptions(await _delete_body(request), _query(request))
        body, _finished = await deletion.delete(registry, ri.info, ri.namespace, ri.name, del_opts)
        return codec.json_response(body, 200)
    if ri.verb == "deletecollection":
        del_opts = deletion.DeleteOptions(await _delete_body(request), _query(request))
        q = request.query
        body = await deletion.delete_collection(
            registry, ri.info, ri.namespace, del_opts,
            selectors.parse_label_selector(q.get("labelSelector")),
            selectors.parse_field_selector(q.get("fieldSelector")),
        )
        return codec.json_response(body, 200)
    raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
