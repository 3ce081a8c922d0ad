"""The LimitRanger and ResourceQuota admission plugins of the API server.

- :meth:`QuotaAdmission.mutate_create` (mutating, pods on create, before the pod's QoS class
  is computed): each container gets the ``defaultRequest``/``default`` of the namespace's
  LimitRanges it lacks, with the ``kubernetes.io/limit-ranger`` annotation.
- :meth:`QuotaAdmission.validate_create` / :meth:`validate_update` (validating, after the
  kind's validation): a pod breaking a LimitRange's min/max/ratio is refused (403,
  ``pods "x" is forbidden: maximum cpu usage per Container is 1, but limit is 2``), and so is a
  PVC breaking a PersistentVolumeClaim item (on create and update); then every
  ResourceQuota of the namespace the object counts against is checked (``failed quota: q:
  must specify limits.cpu for: c1``, ``exceeded quota: q, requested: ..., used: ...,
  limited: ...``) and, unless dry-run, charged: its ``status.used`` grows by the request, as
  kube's quota admission does. Checks and charges are serialized per namespace; the quota
  controller (``gitkube.controllers.resourcequota``) later recounts from the live objects.

Pod updates are charged for the resources they add only. Called by ``registry``; the rules
themselves are pure, in :mod:`gitkube.api.quota`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from gitkube import errors
from gitkube.api import quota, scheme
from gitkube.api.quantity import Quantity

if TYPE_CHECKING:
    from gitkube.apiserver.registry import Registry, WriteOptions

__all__ = ["QuotaAdmission"]

log = logging.getLogger(__name__)

_FIELD_MANAGER = "resourcequota-admission"


def _is_pod(info: scheme.ResourceInfo) -> bool:
    return info.group == "" and info.kind == "Pod"


def _is_pvc(info: scheme.ResourceInfo) -> bool:
    return info.group == "" and info.kind == "PersistentVolumeClaim"


def _forbidden(info: scheme.ResourceInfo, obj: dict[str, Any], message: str) -> errors.Forbidden:
    name = str((obj.get("metadata") or {}).get("name") or "")
    return errors.Forbidden(f'{info.group_resource} "{name}" is forbidden: {message}',
                            kind=info.plural, name=name, group=info.group)


def _aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


class QuotaAdmission:
    """LimitRanger and ResourceQuota admission over one registry."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._locks: dict[str, asyncio.Lock] = {}

    async def _list(self, group: str, plural: str, namespace: str) -> list[dict[str, Any]]:
        info = scheme.by_plural(group, plural)
        assert info is not None
        result = await self._registry.list(info, namespace)
        return sorted(result.items, key=lambda o: str(o["metadata"]["name"]))

    async def mutate_create(self, info: scheme.ResourceInfo, obj: dict[str, Any]) -> None:
        """LimitRanger's defaults for a pod being created."""
        if not _is_pod(info):
            return
        ranges = await self._list("", "limitranges", str(obj["metadata"]["namespace"]))
        if ranges:
            try:
                quota.apply_limit_range_defaults(obj, ranges)
            except ValueError:
                return  # an unparsable quantity: the pod's own validation reports it

    async def validate_create(self, info: scheme.ResourceInfo, obj: dict[str, Any], opts: WriteOptions) -> None:
        """LimitRange rules for pods, then the namespace's quotas for any namespaced object."""
        if not info.namespaced:
            return
        if _is_pod(info) or _is_pvc(info):
            await self._check_limit_ranges(info, obj)
        await self._charge(info, obj, quota.usage_of(obj), opts, constraints=_is_pod(info))

    async def validate_update(self, info: scheme.ResourceInfo, new: dict[str, Any], live: dict[str, Any],
                              opts: WriteOptions) -> None:
        """A pod update that adds resources (e.g. a resize) is checked and charged for the increase;
        a PVC update (a resize) is checked against the LimitRanges, as LimitRanger does."""
        if _is_pvc(info) and not opts.subresource:
            await self._check_limit_ranges(info, new)
        if not _is_pod(info) or opts.subresource:
            return
        before = quota.usage_of(live)
        after = quota.usage_of(new)
        delta: quota.Usage = {}
        for name, value in after.items():
            grown = Quantity.parse(str(value)) - Quantity.parse(str(before.get(name, 0)))
            if grown.sign() > 0:
                delta[name] = grown
        if delta:
            await self._charge(info, new, delta, opts, constraints=False)

    async def _check_limit_ranges(self, info: scheme.ResourceInfo, obj: dict[str, Any]) -> None:
        """LimitRanger's validation: a pod's Container/Pod items or a PVC's PersistentVolumeClaim
        items (403 ``persistentvolumeclaims "c" is forbidden: minimum storage usage per ...``)."""
        violations = quota.limit_range_violations if _is_pod(info) else quota.pvc_limit_range_violations
        for lr in await self._list("", "limitranges", str(obj["metadata"]["namespace"])):
            problems = violations(obj, lr)
            if problems:
                raise _forbidden(info, obj, _aggregate(problems))

    def _lock(self, namespace: str) -> asyncio.Lock:
        lock = self._locks.get(namespace)
        if lock is None:
            lock = self._locks[namespace] = asyncio.Lock()
        return lock

    async def _live_used(self, rq: dict[str, Any], namespace: str) -> dict[str, str]:
        hard = (rq.get("spec") or {}).get("hard") or {}
        objects: list[dict[str, Any]] = []
        for group, plural in sorted(quota.tracked_resources(hard)):
            objects += await self._list(group, plural, namespace)
        return quota.calculate_used(rq, objects)

    async def _charge(self, info: scheme.ResourceInfo, obj: dict[str, Any], usage: quota.Usage,
                      opts: WriteOptions, *, constraints: bool) -> None:
        if not usage:
            return
        namespace = str(obj["metadata"]["namespace"])
        async with self._lock(namespace):
            charges: list[tuple[str, dict[str, Any], dict[str, Quantity | int]]] = []
            for rq in await self._list("", "resourcequotas", namespace):
                if not quota.matches_scopes(rq, obj):
                    continue
                rq_name = str(rq["metadata"]["name"])
                hard = (rq.get("spec") or {}).get("hard") or {}
                if constraints:
                    missing = quota.missing_constraints(hard, obj)
                    if missing:
                        raise _forbidden(info, obj, f"failed quota: {rq_name}: {missing}")
                requested = {k: v for k, v in usage.items() if k in hard}
                if not requested:
                    continue
                status = rq.get("status") or {}
                synced = status.get("hard") == hard and isinstance(status.get("used"), dict)
                used = dict(status["used"]) if synced else await self._live_used(rq, namespace)
                violations = quota.check(hard, used, requested, name=rq_name)
                if violations:
                    raise _forbidden(info, obj, violations[0])
                charges.append((rq_name, used, requested))
            if opts.dry_run:
                return
            for rq_name, used, requested in charges:
                await self._record(namespace, rq_name, used, requested, opts)

    async def _record(self, namespace: str, rq_name: str, used: dict[str, Any], requested: dict[str, Quantity | int],
                      opts: WriteOptions) -> None:
        """Add ``requested`` to the quota's ``status.used`` (on the live value when synced)."""
        rq_info = scheme.by_plural("", "resourcequotas")
        assert rq_info is not None

        def charge(live: dict[str, Any]) -> dict[str, Any]:
            hard = (live.get("spec") or {}).get("hard") or {}
            status = live.setdefault("status", {})
            base = status.get("used") if status.get("hard") == hard and isinstance(status.get("used"), dict) else used
            status["hard"] = dict(hard)
            status["used"] = quota.format_used(quota.add_usage(quota.parse_resource_list(base), requested), hard)
            return live

        status_opts = dataclasses.replace(opts, subresource="status", field_manager=_FIELD_MANAGER, is_apply=False,
                                          dry_run=False)
        try:
            await self._registry.mutate(rq_info, namespace, rq_name, charge, status_opts)
        except errors.NotFound:
            log.debug("quota %s/%s deleted while charging it", namespace, rq_name)
