"""ValidatingAdmissionPolicy enforcement in the API server's admission chain.

The registry calls :meth:`PolicyAdmission.admit` for every create, update (the main resource
and subresources) and delete, after defaulting and validation and before the store write,
whoever the client is. The bound policies are read from the store in-process and kept
until a policy or binding is written (:meth:`PolicyAdmission.written`, called by the registry
after each store write); compiled policies are cached per generation (``gitkube.policy``).
Params (``paramRef``) and the request's Namespace are read per request.

A Deny decision raises Kubernetes' error (``deployments.apps "web" is forbidden:
ValidatingAdmissionPolicy 'P' with binding 'B' denied request: MESSAGE``, code from the
validation's reason: 422 Invalid by default, 403 Forbidden, 401, 413); Warn decisions come back
as warnings (``Warning`` headers, which kubectl prints); Audit ones are logged. Policies and
bindings are never subject to policies; a policy whose CEL does not compile is refused at
create/update with a 422 naming the field (``spec.validations[1].expression``).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import Any

from gitkube import errors
from gitkube.api import scheme, selectors
from gitkube.apiserver import strategy
from gitkube.policy.compiler import PolicyCache, PolicyCompileError, compile_policy
from gitkube.policy.evaluate import Decision, deny_message, evaluate_binding, param_query, warning_message
from gitkube.policy.match import Attributes, matches
from gitkube.store import base as store_base

__all__ = ["REQUEST_USER", "PolicyAdmission"]

log = logging.getLogger(__name__)

#: The authenticated user of the request being served (``request.userInfo.username``).
REQUEST_USER: ContextVar[str] = ContextVar("gitkube_request_user", default="")

GROUP = "admissionregistration.k8s.io"
POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"

_ERRORS: dict[str, type[errors.APIError]] = {
    "Invalid": errors.Invalid,
    "Forbidden": errors.Forbidden,
    "Unauthorized": errors.Unauthorized,
    "RequestEntityTooLarge": errors.RequestTooLarge,
}


def _info(group: str, kind: str) -> scheme.ResourceInfo:
    found = scheme.by_kind(f"{group}/v1" if group else "v1", kind)
    assert found is not None, kind
    return found


class PolicyAdmission:
    """Bound policies of one store, evaluated against each write."""

    def __init__(self, store: store_base.Store) -> None:
        self._store = store
        self._compiled = PolicyCache()
        self._snapshot: tuple[dict[str, dict[str, Any]], list[dict[str, Any]], bool] | None = None
        self._epoch = 0

    def written(self, info: scheme.ResourceInfo) -> None:
        """A write of ``info``'s kind reached the store: drop the cached policies if it was one."""
        if info.group == GROUP and info.kind in (POLICY_KIND, BINDING_KIND):
            self._epoch += 1
            self._snapshot = None

    async def _bound(self) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], bool]:
        """Policies by name, bindings, and whether any of them needs the request's Namespace."""
        if self._snapshot is not None:
            return self._snapshot
        epoch = self._epoch
        policies = await self._store.list(scheme.storage_prefix(_info(GROUP, POLICY_KIND)))
        bindings = await self._store.list(scheme.storage_prefix(_info(GROUP, BINDING_KIND)))
        by_name = {str(p["metadata"]["name"]): p for p in policies.items}
        self._compiled.retain(set(by_name))
        snapshot = (by_name, list(bindings.items), _needs_namespace(policies.items + bindings.items))
        if epoch == self._epoch:  # no policy write landed while listing
            self._snapshot = snapshot
        return snapshot

    async def admit(
        self,
        info: scheme.ResourceInfo,
        operation: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> list[str]:
        """Evaluate every bound policy against the request; raise on Deny, return warnings."""
        if info.group == GROUP:
            if info.kind == POLICY_KIND and obj is not None:
                _check_compiles(info, obj)
            return []
        policies, bindings, needs_namespace = await self._bound()
        if not bindings:
            return []
        source = obj if obj is not None else old or {}
        m = source.get("metadata") or {}
        namespace = str(m.get("namespace") or "") if info.namespaced else ""
        attrs = Attributes(
            operation=operation, group=info.group, version=info.version, kind=info.kind, resource=info.plural,
            name=str(m.get("name") or ""), namespace=namespace, object=obj, old_object=old,
            subresource=subresource, username=REQUEST_USER.get(), dry_run=dry_run,
            namespace_object=await self._namespace(namespace) if needs_namespace else None,
        )
        warnings: list[str] = []
        for binding in sorted(bindings, key=lambda b: str(b["metadata"]["name"])):
            policy = policies.get(str((binding.get("spec") or {}).get("policyName") or ""))
            if policy is None:
                continue
            for decision in await self._evaluate(policy, binding, attrs):
                if decision.action == "Deny":
                    raise _denial(info, attrs.name, decision)
                if decision.action == "Warn":
                    warnings.append(warning_message(decision))
                else:
                    log.info("policy audit: %s %s/%s by %r: %s", operation, info.group_resource,
                             attrs.name, attrs.username, warning_message(decision))
        return warnings

    async def _evaluate(self, policy: dict[str, Any], binding: dict[str, Any], attrs: Attributes) -> list[Decision]:
        try:
            compiled = self._compiled.get(policy)
        except PolicyCompileError as exc:
            spec = policy.get("spec") or {}
            if spec.get("failurePolicy") == "Ignore" or not matches(spec.get("matchConstraints"), attrs):
                return []
            actions = (binding.get("spec") or {}).get("validationActions") or ["Deny"]
            return [Decision(exc.policy, str(binding["metadata"]["name"]), a, str(exc)) for a in actions]
        query = param_query(compiled, binding, attrs)
        params: list[dict[str, Any]] | None = None
        if query is not None and (binding.get("spec") or {}).get("paramRef"):
            params = await self._params(query.api_version, query.kind, query.namespace, query.name, query.selector)
        return evaluate_binding(compiled, binding, attrs, params)

    async def _namespace(self, namespace: str) -> dict[str, Any] | None:
        if not namespace:
            return None
        try:
            return await self._store.get(scheme.storage_key(_info("", "Namespace"), None, namespace))
        except errors.NotFound:
            return None

    async def _params(self, api_version: str, kind: str, namespace: str, name: str,
                      selector: dict[str, Any] | None) -> list[dict[str, Any]]:
        info = scheme.by_kind(api_version, kind)
        if info is None:
            return []
        ns = namespace if info.namespaced else None
        if name:
            try:
                return [await self._store.get(scheme.storage_key(info, ns, name))]
            except errors.NotFound:
                return []
        listed = await self._store.list(scheme.storage_prefix(info, ns),
                                        label_selector=selectors.from_label_selector_spec(selector or {}))
        return list(listed.items)


def _needs_namespace(objects: list[dict[str, Any]]) -> bool:
    """Whether any policy or binding selects namespaces or reads ``namespaceObject``: only then is
    the request's Namespace read."""
    for obj in objects:
        spec = obj.get("spec") or {}
        for match in (spec.get("matchConstraints"), spec.get("matchResources")):
            if isinstance(match, dict) and match.get("namespaceSelector"):
                return True
        if "namespaceObject" in json.dumps(spec):
            return True
    return False


def _check_compiles(info: scheme.ResourceInfo, policy: dict[str, Any]) -> None:
    try:
        compile_policy(policy)
    except PolicyCompileError as exc:
        causes = [errors.Cause(field, message) for field, message in exc.problems]
        raise strategy.to_invalid(info, exc.policy, causes) from None


def _denial(info: scheme.ResourceInfo, name: str, decision: Decision) -> errors.APIError:
    message = deny_message(info.group_resource, name, decision)
    cls = _ERRORS.get(decision.reason, errors.Invalid)
    return cls(message, kind=info.plural, name=name, group=info.group, causes=[errors.Cause("", message, "")])
