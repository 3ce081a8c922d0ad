"""The generic registry: Kubernetes object semantics on top of the Store.

Every write the API server accepts goes through here, whoever sends it (kubectl, the
kubernetes package, the garbage collector, later the controllers and the GitOps engine):

- create: namespace checks, ``generateName``, uid, creationTimestamp, generation 1, status
  reset, defaulting and validation (``strategy``), ClusterIP allocation, managedFields;
- update/patch (``mutate``): resourceVersion preconditions, immutable metadata, generation
  bumped on spec changes only, status kept apart from the main resource, finalizer rules,
  a retry on store conflicts when the client gave no precondition;
- ``dry_run`` everywhere: the same path without the store write.

Deletion, cascading and finalizers live in ``deletion``; field validation and decoding in
``admission``; the copy and managedFields shortcuts in ``registry_fields``. Called by
``handlers`` (HTTP) and ``gc``; calls ``gitkube.store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gitkube import errors
from gitkube.api import meta, scheme, selectors
from gitkube.apiserver import admission, admission_policy, ipalloc, registry_fields, strategy
from gitkube.apiserver.admission_quota import QuotaAdmission
from gitkube.apiserver.registry_fields import clone
from gitkube.apiserver.registry_fields import track_create as _track_create
from gitkube.store import base as store_base

__all__ = ["Registry", "WriteOptions", "WriteResult", "clone", "conflict_message", "not_found"]

Mutation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]


@dataclass
class WriteOptions:
    """Per-request options of a write."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    subresource: str = ""
    # True for server-side apply: the apply already recorded the manager's field set.
    is_apply: bool = False


@dataclass
class WriteResult:
    object: dict[str, Any]
    created: bool = False
    warnings: list[str] = field(default_factory=list)


def not_found(info: scheme.ResourceInfo, name: str) -> errors.NotFound:
    return errors.NotFound(
        f'{info.group_resource} "{name}" not found', kind=info.plural, name=name, group=info.group
    )


def conflict_message(info: scheme.ResourceInfo, name: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {info.group_resource} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        kind=info.plural,
        name=name,
        group=info.group,
    )


def _track_write(info: scheme.ResourceInfo, live: dict[str, Any], new: dict[str, Any], opts: WriteOptions) -> None:
    """:func:`registry_fields.track_write` with this write's manager and subresource."""
    registry_fields.track_write(info, live, new, manager=opts.field_manager or "unknown",
                                subresource=opts.subresource)


def _decode_changes(info: scheme.ResourceInfo, desired: Any, live: dict[str, Any], field_validation: str) -> list[str]:
    """``admission.decode_object`` of an update, walking only the top-level fields that differ
    from the stored object (which was checked when written): a status write does not walk
    the spec. Unknown fields dropped from the view are dropped from ``desired`` too."""
    if not isinstance(desired, dict):
        return admission.decode_object(info, desired, field_validation)
    view = {k: v for k, v in desired.items() if k in ("apiVersion", "kind") or v != live.get(k)}
    if "metadata" in desired and not isinstance(desired["metadata"], dict):
        view["metadata"] = desired["metadata"]
    checked = set(view)
    warnings = admission.decode_object(info, view, field_validation)
    for dropped in checked - set(view):
        desired.pop(dropped, None)
    desired.update(view)
    return warnings


def _spec_of(info: scheme.ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    return {f: obj.get(f) for f in info.spec_fields}


def _strip_rv(obj: dict[str, Any]) -> dict[str, Any]:
    clone = dict(obj)
    clone["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return clone


class Registry:
    """Object semantics over a :class:`~gitkube.store.base.Store`."""

    def __init__(self, store: store_base.Store, ips: ipalloc.ClusterIPAllocator) -> None:
        self.store = store
        self.ips = ips
        self.quota = QuotaAdmission(self)  # LimitRanger and ResourceQuota admission
        self.policies = admission_policy.PolicyAdmission(store)  # ValidatingAdmissionPolicy (CEL)

    # -- reads -------------------------------------------------------------------------

    async def get(self, info: scheme.ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return await self.store.get(scheme.storage_key(info, namespace, name))
        except errors.NotFound:
            raise not_found(info, name) from None

    async def list(
        self,
        info: scheme.ResourceInfo,
        namespace: str | None,
        *,
        label_selector: selectors.LabelSelector | None = None,
        field_selector: selectors.FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> store_base.ListResult:
        prefix = scheme.storage_prefix(info, namespace)
        if field_selector is not None and not namespace and info.namespaced:
            pinned = field_selector.value_for("metadata.namespace")
            if pinned:
                prefix = scheme.storage_prefix(info, pinned)
        return await self.store.list(
            prefix,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_token=continue_token,
        )

    async def load_cluster_ips(self) -> None:
        services = scheme.by_plural("", "services")
        assert services is not None
        result = await self.store.list(scheme.storage_prefix(services))
        self.ips.load(str((s.get("spec") or {}).get("clusterIP") or "") for s in result.items)

    # -- create ------------------------------------------------------------------------

    async def create(
        self,
        info: scheme.ResourceInfo,
        namespace: str | None,
        obj: dict[str, Any],
        opts: WriteOptions,
    ) -> WriteResult:
        warnings = admission.decode_object(info, obj, opts.field_validation)
        m = meta.meta(obj)
        if info.namespaced:
            body_ns = m.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or body_ns or "default"
            m["namespace"] = namespace
            await self._check_namespace_open(namespace)
        else:
            m.pop("namespace", None)
        if not m.get("name"):
            if m.get("generateName"):
                m["name"] = meta.generate_name(str(m["generateName"]))
            else:
                raise errors.Invalid(
                    f"{info.kind} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    kind=info.kind,
                    group=info.group,
                    causes=[errors.Cause("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")],
                )
        name = str(m["name"])
        for system_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                             "deletionGracePeriodSeconds", "selfLink"):
            m.pop(system_field, None)
        m["uid"] = meta.new_uid()
        m["creationTimestamp"] = meta.now()
        if info.spec_fields:
            m["generation"] = 1
        else:
            m.pop("generation", None)
        await self.quota.mutate_create(info, obj)
        admission.prepare_for_create(info, obj)
        admission.default_and_validate(info, obj, None)
        warnings += await self.policies.admit(info, "CREATE", obj, None, dry_run=opts.dry_run)
        await self.quota.validate_create(info, obj, opts)
        allocated = self._allocate_cluster_ip(info, obj, opts.dry_run)
        manager = opts.field_manager or "unknown"
        if "managedFields" not in m or not m.get("managedFields"):
            m.pop("managedFields", None)
            _track_create(info, obj, manager, m["creationTimestamp"])
        if opts.dry_run:
            return WriteResult(obj, created=True, warnings=warnings)
        try:
            stored = await self.store.create(scheme.storage_key(info, namespace, name), obj)
        except BaseException as exc:
            self.ips.release(allocated)
            if isinstance(exc, errors.AlreadyExists):
                raise errors.AlreadyExists(
                    f'{info.group_resource} "{name}" already exists', kind=info.plural, name=name, group=info.group
                ) from None
            raise
        self.policies.written(info)
        return WriteResult(stored, created=True, warnings=warnings)

    async def _check_namespace_open(self, namespace: str) -> None:
        ns_info = scheme.by_plural("", "namespaces")
        assert ns_info is not None
        try:
            ns = await self.store.get(scheme.storage_key(ns_info, None, namespace))
        except errors.NotFound:
            raise errors.NotFound(f'namespaces "{namespace}" not found', kind="namespaces", name=namespace) from None
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                kind="namespaces",
                name=namespace,
            )

    def _allocate_cluster_ip(self, info: scheme.ResourceInfo, obj: dict[str, Any], dry_run: bool) -> str | None:
        """Give a Service without a cluster IP one (headless and ExternalName get none)."""
        if info.kind != "Service" or info.group:
            return None
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return None
        requested = spec.get("clusterIP") or None
        if requested == "None":
            spec["clusterIPs"] = ["None"]
            return None
        ip = self.ips.allocate(requested, dry_run=dry_run)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        return ip

    def _service_ip_change(self, info: scheme.ResourceInfo, new: dict[str, Any], live: dict[str, Any]) -> str | None:
        """A Service that needs an IP it did not have (ExternalName → ClusterIP) gets one."""
        if info.kind != "Service" or info.group or (new.get("spec") or {}).get("clusterIP"):
            return None
        return self._allocate_cluster_ip(info, new, dry_run=False)

    # -- update / patch ----------------------------------------------------------------

    async def mutate(
        self,
        info: scheme.ResourceInfo,
        namespace: str | None,
        name: str,
        mutation: Mutation,
        opts: WriteOptions,
        *,
        create_if_missing: Callable[[], Awaitable[WriteResult]] | None = None,
        copy_live: bool = True,
    ) -> WriteResult:
        """Read, apply ``mutation`` to a copy, check and write; retried on store conflicts.

        ``mutation`` gets a deep copy of the live object (the live object itself with
        ``copy_live=False``, for mutations that never modify their argument, such as the
        patch functions) and returns the desired object. A
        ``metadata.resourceVersion`` in the result that differs from the live one is a
        precondition failure (409), as for PUT and for patches that carry one.
        """
        key = scheme.storage_key(info, namespace, name)
        for _attempt in range(16):
            try:
                live = await self.store.get(key)
            except errors.NotFound:
                if create_if_missing is not None:
                    return await create_if_missing()
                raise not_found(info, name) from None
            result = mutation(clone(live) if copy_live else live)
            desired = await result if isinstance(result, Awaitable) else result
            warnings = _decode_changes(info, desired, live, opts.field_validation)
            wanted_rv = str((desired.get("metadata") or {}).get("resourceVersion") or "")
            live_rv = str(live["metadata"]["resourceVersion"])
            if wanted_rv and wanted_rv != live_rv:
                raise conflict_message(info, name)
            new = self._prepare_update(info, namespace, name, desired, live, opts)
            warnings += await self.policies.admit(info, "UPDATE", new, live, subresource=opts.subresource,
                                                  dry_run=opts.dry_run)
            await self.quota.validate_update(info, new, live, opts)
            if opts.dry_run:
                return WriteResult(new, warnings=warnings)
            if _strip_rv(new) == _strip_rv(live):
                return WriteResult(live, warnings=warnings)
            new_meta = new["metadata"]
            # ShouldDeleteDuringUpdate: the last finalizer gone and no grace period left. A pod
            # terminating gracefully keeps taking status writes until its node agent deletes it.
            if (new_meta.get("deletionTimestamp") and not new_meta.get("finalizers")
                    and int(new_meta.get("deletionGracePeriodSeconds") or 0) == 0):
                try:
                    deleted = await self.store.delete(key, expected_rv=live_rv)
                except errors.Conflict:
                    continue
                self.policies.written(info)
                return WriteResult(deleted, warnings=warnings)
            allocated = self._service_ip_change(info, new, live)
            try:
                stored = await self.store.update(key, new, expected_rv=live_rv)
            except BaseException as exc:
                self.ips.release(allocated)
                if isinstance(exc, errors.Conflict):
                    if wanted_rv:
                        raise conflict_message(info, name) from None
                    continue
                if isinstance(exc, errors.NotFound):
                    raise not_found(info, name) from None
                raise
            self.policies.written(info)
            if info.kind == "Service" and not info.group:
                old_ip = (live.get("spec") or {}).get("clusterIP")
                if old_ip and old_ip != (stored.get("spec") or {}).get("clusterIP"):
                    self.ips.release(old_ip)  # e.g. turned into an ExternalName Service
            return WriteResult(stored, warnings=warnings)
        raise conflict_message(info, name)

    def _prepare_update(
        self,
        info: scheme.ResourceInfo,
        namespace: str | None,
        name: str,
        desired: dict[str, Any],
        live: dict[str, Any],
        opts: WriteOptions,
    ) -> dict[str, Any]:
        if opts.subresource == "status" and isinstance(desired.get("metadata", {}), dict):
            # Only metadata (copied here) and the status are read from it: no deep copy.
            new: dict[str, Any] = {**desired, "metadata": dict(desired.get("metadata") or {})}
        else:
            new = clone(desired)
        nm, lm = meta.meta(new), live["metadata"]
        if nm.get("name", name) != name:
            raise errors.BadRequest(
                f'the name of the object ({nm.get("name")}) does not match the name on the URL ({name})'
            )
        if info.namespaced and nm.get("namespace", namespace) != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if nm.get("uid") and nm["uid"] != lm.get("uid"):
            raise errors.Conflict(
                f'Precondition failed: UID in precondition: {nm["uid"]}, UID in object meta: {lm.get("uid")}',
                kind=info.plural, name=name, group=info.group,
            )
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        nm["name"] = name
        if info.namespaced:
            nm["namespace"] = namespace
        for system_field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if system_field in lm:
                nm[system_field] = lm[system_field]
            else:
                nm.pop(system_field, None)
        nm["resourceVersion"] = lm["resourceVersion"]
        if lm.get("deletionTimestamp"):
            added = set(nm.get("finalizers") or []) - set(lm.get("finalizers") or [])
            if added:
                raise errors.Invalid(
                    f'{info.kind} "{name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted',
                    kind=info.kind, name=name, group=info.group,
                    causes=[errors.Cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted", "FieldValueForbidden")],
                )
        if opts.subresource == "status":
            # A status write changes status, and labels/annotations as Kubernetes' status
            # strategies allow; spec, ownerReferences and deletionTimestamp stay as stored.
            # A shallow copy: nothing below changes the spec or other nested parts it shares
            # with ``live`` (no defaulting on /status); metadata is copied.
            merged: dict[str, Any] = {**live, "metadata": dict(live["metadata"])}
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            for field_name in ("labels", "annotations"):
                if nm.get(field_name):
                    merged["metadata"][field_name] = nm[field_name]
                else:
                    merged["metadata"].pop(field_name, None)
            merged["metadata"]["managedFields"] = nm.get("managedFields", lm.get("managedFields"))
            if merged["metadata"]["managedFields"] is None:
                merged["metadata"].pop("managedFields")
            new = merged
        elif info.has_status:
            if "status" in live:
                new["status"] = clone(live["status"])
            else:
                new.pop("status", None)
        if opts.subresource != "status":
            # e.g. a Service replace that leaves clusterIP out keeps the allocated one
            strategy.prepare_for_update(info, new, live)
            admission.default_and_validate(info, new, live)
        if info.spec_fields:
            generation = int(lm.get("generation") or 1)
            if _spec_of(info, new) != _spec_of(info, live):
                generation += 1
            nm["generation"] = generation
        else:
            nm.pop("generation", None)
        if not opts.is_apply:
            _track_write(info, live, new, opts)
        return new
