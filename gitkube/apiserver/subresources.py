"""Subresources: ``scale``, ``pods/binding``, ``pods/eviction``, ``pods/log`` and
``namespaces/finalize`` (``status`` is a plain update/patch with a flag, see ``registry``).

- scale: an ``autoscaling/v1`` Scale view of a Deployment, ReplicaSet or StatefulSet; PUT
  checks the Scale's resourceVersion against the parent (409 on mismatch), PATCH applies a
  merge/JSON/strategic patch to the Scale (KUBECTL-COMPAT.md §3.8).
- binding: what the scheduler posts to assign a pod to a node (409 if already bound).
- log: reads the container log files the node agent writes under
  ``DATA/pods/<ns>_<pod>_<uid>/logs/<container>/<restartCount>.log`` in the CRI format
  (``<RFC3339Nano> <stream> <F|P> <line>``), with ``tailLines``, ``timestamps``,
  ``previous``, ``limitBytes``, ``sinceSeconds`` and ``follow``.

Called by ``handlers``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.apiserver import codec, deletion
from gitkube.apiserver import registry as reg
from gitkube.apiserver.options import write_options
from gitkube.apiserver.patch import apply_patch
from gitkube.apiserver.requestinfo import RequestInfo

__all__ = ["DATA_DIR", "handle", "log_dir", "patch_scale", "to_scale"]

DATA_DIR = web.AppKey("gitkube.data_dir", Path)


def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj["metadata"]
    selector = selectors.from_label_selector_spec((obj.get("spec") or {}).get("selector"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in m},
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0) or 0)},
        "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0) or 0), "selector": str(selector)},
    }


def _replicas_of(scale: Any) -> int:
    if not isinstance(scale, dict) or not isinstance(scale.get("spec", {}), dict):
        raise errors.BadRequest("the body must be an autoscaling/v1 Scale object")
    replicas = scale.get("spec", {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.BadRequest("Scale.autoscaling in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer")
    if replicas < 0:
        cause = errors.Cause("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")
        raise errors.Invalid(f'Scale.autoscaling "{scale.get("metadata", {}).get("name", "")}" is invalid: spec.replicas: {cause.message}',
                             kind="Scale", group="autoscaling", causes=[cause])
    return replicas


async def _write_scale(ri: RequestInfo, registry: reg.Registry, opts: reg.WriteOptions,
                       compute: Any) -> dict[str, Any]:
    assert ri.name is not None

    def mutate(live: dict[str, Any]) -> dict[str, Any]:
        scale = compute(to_scale(live))
        if not isinstance(scale, dict) or not isinstance(scale.get("metadata") or {}, dict):
            raise errors.BadRequest("the body must be an autoscaling/v1 Scale object")
        wanted_rv = str((scale.get("metadata") or {}).get("resourceVersion") or "")
        if wanted_rv and wanted_rv != live["metadata"]["resourceVersion"]:
            raise reg.conflict_message(ri.info, ri.name or "")
        live.setdefault("spec", {})["replicas"] = _replicas_of(scale)
        live["metadata"].pop("resourceVersion", None)
        return live

    opts.subresource = "scale"  # recorded in managedFields; the write itself is a spec update
    result = await registry.mutate(ri.info, ri.namespace, ri.name, mutate, opts)
    return to_scale(result.object)


async def patch_scale(request: web.Request, ri: RequestInfo, registry: reg.Registry, content_type: str,
                      body: bytes, opts: reg.WriteOptions) -> web.Response:
    if content_type == "application/apply-patch+yaml":
        raise errors.UnsupportedMediaType("apply patches are not supported on the scale subresource")
    scale = await _write_scale(ri, registry, opts, lambda s: apply_patch(content_type, s, body, "autoscaling/v1", "Scale"))
    return codec.json_response(scale)


def log_dir(data_dir: Path, pod: dict[str, Any]) -> Path:
    m = pod["metadata"]
    return data_dir / "pods" / f"{m['namespace']}_{m['name']}_{m['uid']}" / "logs"


def _container_for(pod: dict[str, Any], requested: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    name = pod["metadata"]["name"]
    if requested:
        if requested not in names + init:
            raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
        return str(requested)
    if len(names) == 1:
        return str(names[0])
    default = ((pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
    if default in names:
        return str(default)
    raise errors.BadRequest(
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
    )


def _render_line(line: str, timestamps: bool, since: dt.datetime | None) -> str | None:
    stamp, _, rest = line.partition(" ")
    _stream, _, rest = rest.partition(" ")
    tag, _, text = rest.partition(" ")
    if since is not None:
        try:
            if meta.parse_time(stamp[:26].rstrip("Z") + "Z" if "." in stamp else stamp) < since:
                return None
        except ValueError:
            pass
    body = text + ("\n" if tag != "P" else "")
    return f"{stamp} {body}" if timestamps else body


async def _log(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.StreamResponse:
    assert ri.name is not None
    q = request.query
    pod = await registry.get(ri.info, ri.namespace, ri.name)
    container = _container_for(pod, q.get("container"))
    statuses = {s.get("name"): s for s in ((pod.get("status") or {}).get("containerStatuses") or [])
                + ((pod.get("status") or {}).get("initContainerStatuses") or [])}
    restarts = int((statuses.get(container) or {}).get("restartCount", 0) or 0)
    previous = q.get("previous", "").lower() == "true"
    index = restarts - 1 if previous else restarts
    path = log_dir(request.app[DATA_DIR], pod) / container / f"{index}.log"
    if index < 0 or not path.exists():
        if previous:
            raise errors.BadRequest(f'previous terminated container "{container}" in pod "{ri.name}" not found')
        raise errors.BadRequest(f'container "{container}" in pod "{ri.name}" is waiting to start: ContainerCreating')
    timestamps = q.get("timestamps", "").lower() == "true"
    since: dt.datetime | None = None
    if q.get("sinceSeconds"):
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(q["sinceSeconds"]))
    elif q.get("sinceTime"):
        since = meta.parse_time(q["sinceTime"])
    limit = int(q["limitBytes"]) if q.get("limitBytes") else None
    tail = int(q["tailLines"]) if q.get("tailLines") not in (None, "", "-1") else None

    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain", "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        position = fh.tell()
        for line in lines:
            out = _render_line(line.rstrip("\n"), timestamps, since)
            if out is None:
                continue
            data = out.encode()
            if limit is not None and sent + len(data) > limit:
                await resp.write(data[: limit - sent])
                await resp.write_eof()
                return resp
            sent += len(data)
            await resp.write(data)
        if q.get("follow", "").lower() == "true":
            await _follow(request, ri, registry, resp, fh, position, timestamps, pod["metadata"]["uid"])
    await resp.write_eof()
    return resp


async def _follow(request: web.Request, ri: RequestInfo, registry: reg.Registry, resp: web.StreamResponse,
                  fh: Any, position: int, timestamps: bool, uid: str) -> None:
    """Stream lines as they are appended, until the pod is deleted or replaced."""
    assert ri.name is not None
    fh.seek(position)
    pending = ""
    idle = 0
    while True:
        chunk = fh.read()
        if chunk:
            idle = 0
            pending += chunk
            *complete, pending = pending.split("\n")
            for line in complete:
                out = _render_line(line, timestamps, None)
                if out is not None:
                    await resp.write(out.encode())
            continue
        idle += 1
        if idle % 20 == 0:
            try:
                live = await registry.get(ri.info, ri.namespace, ri.name)
            except errors.NotFound:
                return
            if live["metadata"].get("uid") != uid:
                return
        await asyncio.sleep(0.05)


async def handle(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.StreamResponse:
    sub, name = ri.subresource, ri.name
    if sub == "binding" and ri.verb == "create":
        return await _bind(request, ri, registry)
    assert name is not None
    if sub == "log" and ri.verb == "get":
        return await _log(request, ri, registry)
    if sub == "scale" and ri.verb == "get":
        return codec.json_response(to_scale(await registry.get(ri.info, ri.namespace, name)))
    if sub == "scale" and ri.verb == "update":
        body = await codec.read_object(request)
        scale = await _write_scale(ri, registry, write_options(request, ri), lambda _s: body)
        return codec.json_response(scale)
    if sub == "eviction" and ri.verb == "create":
        await codec.read_body(request)
        await deletion.delete(registry, ri.info, ri.namespace, name, deletion.DeleteOptions())
        return codec.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )
    if sub == "finalize" and ri.verb == "update":
        body = await codec.read_object(request)
        wanted = list(((body.get("spec") or {}).get("finalizers")) or [])

        def set_finalizers(live: dict[str, Any]) -> dict[str, Any]:
            live.setdefault("spec", {})["finalizers"] = wanted
            return live

        result = await registry.mutate(ri.info, None, name, set_finalizers, write_options(request, ri))
        return codec.json_response(result.object)
    raise errors.MethodNotAllowed(f"{request.method} is not supported on {ri.info.plural}/{sub}")


async def _bind(request: web.Request, ri: RequestInfo, registry: reg.Registry) -> web.Response:
    body = await codec.read_object(request)
    name = ri.name or str((body.get("metadata") or {}).get("name") or "")
    if not name:
        cause = errors.Cause("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")
        raise errors.Invalid('Binding "" is invalid: metadata.name: Required value', kind="Binding", causes=[cause])
    target = (body.get("target") or {}).get("name")
    if not target:
        cause = errors.Cause("target.name", "Required value")
        raise errors.Invalid(f'Binding "{ri.name}" is invalid: target.name: Required value', kind="Binding", causes=[cause])
    opts = write_options(request, ri)

    def bind(live: dict[str, Any]) -> dict[str, Any]:
        current = (live.get("spec") or {}).get("nodeName")
        if current:
            raise errors.Conflict(f"pod {name} is already assigned to node \"{current}\"", kind="pods", name=name)
        if live["metadata"].get("deletionTimestamp"):
            raise errors.Conflict(f"pod {name} is being deleted, cannot be assigned to a host", kind="pods", name=name)
        live.setdefault("spec", {})["nodeName"] = target
        status = live.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": meta.now()})
        status["conditions"] = conditions
        return live

    # Binding writes spec.nodeName and the PodScheduled condition together, as the
    # pod binding REST storage does; it bypasses the status-preserving update path.
    pods = scheme.by_plural("", "pods")
    assert pods is not None
    key = scheme.storage_key(pods, ri.namespace, name)
    for _ in range(16):
        live = await registry.get(pods, ri.namespace, name)
        new = bind(reg.clone(live))
        if opts.dry_run:
            break
        try:
            await registry.store.update(key, new, expected_rv=live["metadata"]["resourceVersion"])
            break
        except errors.Conflict:
            continue
    return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
