"""Write options from a request's query: ``dryRun``, ``fieldManager``, ``fieldValidation``.

``dryRun`` must be ``All``; ``fieldValidation`` one of Strict, Warn (the default, as in
Kubernetes 1.27+) or Ignore; ``fieldManager`` defaults to the User-Agent's product name and is
required for server-side apply (422, as kube-apiserver answers). Called by ``handlers`` and
``subresources``.
"""

from __future__ import annotations

from aiohttp import web

from gitkube import errors
from gitkube.apiserver import admission
from gitkube.apiserver import registry as reg
from gitkube.apiserver.requestinfo import RequestInfo

__all__ = ["write_options"]


def write_options(request: web.Request, ri: RequestInfo, *, apply: bool = False) -> reg.WriteOptions:
    q = request.query
    dry = q.getall("dryRun", [])
    for d in dry:
        if d != "All":
            raise errors.BadRequest(f'Invalid dryRun value: "{d}": supported values: "All"')
    validation = q.get("fieldValidation", "Warn") or "Warn"
    if validation not in admission.FIELD_VALIDATION:
        raise errors.BadRequest(
            f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"'
        )
    manager = q.get("fieldManager", "")
    if apply and not manager:
        cause = errors.Cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")
        raise errors.Invalid(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            kind="PatchOptions", group="meta.k8s.io", causes=[cause],
        )
    if not manager:
        agent = request.headers.get("User-Agent", "unknown")
        manager = agent.split("/", 1)[0][:128] or "unknown"
    return reg.WriteOptions(
        dry_run=bool(dry), field_manager=manager, field_validation=validation,
        subresource=ri.subresource or "", is_apply=apply,
    )
