"""The commit's own ValidatingAdmissionPolicies, evaluated against the commit before anything is written.

The server-side dry run already puts every write through the policies that are live. What it
cannot see is a policy the commit itself adds or changes: the sync applies policies in a late
wave, so the objects of the same commit would be written before their policy exists. This
module closes that gap. Every (policy, binding) pair of which the commit creates or changes at
least one side (the other side from the commit, else the live one) is evaluated, with the same
pure code as the API server's admission (:mod:`gitkube.policy`), against every create, update
and delete of the plan, as the request the sync will make (user ``gitkube-admin``). Params come
from the commit first, then the live cluster; the request's Namespace likewise.

A Deny is a pre-flight problem (``file:line:col: deployments.apps "web" is forbidden:
ValidatingAdmissionPolicy 'P' with binding 'B' denied request: MESSAGE``); a Warn is a warning;
an Audit is logged. A policy whose CEL does not compile is reported by the server's dry run of
the policy itself (a 422 naming ``spec.validations[i].expression``), so it is skipped here.

Called by :func:`gitkube.engine.pipeline.prepare` and :func:`~gitkube.engine.pipeline.preflight`.
"""

from __future__ import annotations

import logging
from typing import Any

from gitkube import errors
from gitkube.api import scheme, selectors
from gitkube.api.objectkey import ObjectKey
from gitkube.client import Client
from gitkube.plan.model import Change, Plan
from gitkube.policy.compiler import PolicyCompileError, compile_policy
from gitkube.policy.evaluate import deny_message, evaluate_binding, param_query, warning_message
from gitkube.policy.match import Attributes

__all__ = ["USERNAME", "check"]

log = logging.getLogger(__name__)

GROUP = "admissionregistration.k8s.io"
POLICY = "ValidatingAdmissionPolicy"
BINDING = "ValidatingAdmissionPolicyBinding"
USERNAME = "gitkube-admin"  # who the sync's requests come from on the built-in control plane

Obj = dict[str, Any]


async def _live(client: Client, plural: str) -> list[Obj]:
    info = scheme.by_plural(GROUP, plural)
    assert info is not None
    return [dict(i) for i in (await client.list(info)).get("items") or []]


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


class _Lookup:
    """Objects by key: the plan's desired ones first, then the cluster's."""

    def __init__(self, client: Client, plan: Plan) -> None:
        self.client = client
        self.desired = {c.key: c.desired for c in plan.changes if c.desired is not None}

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        info = scheme.by_kind(api_version, kind)
        if info is None:
            return None
        key = ObjectKey(info.group, kind, namespace if info.namespaced else "", name)
        if key in self.desired:
            return self.desired[key]
        try:
            return await self.client.get(info, name, namespace if info.namespaced else None)
        except errors.NotFound:
            return None

    async def namespace(self, name: str) -> Obj | None:
        """The Namespace as admission will see it: the live one, else the commit's, with the
        ``kubernetes.io/metadata.name`` label the API server always sets."""
        info = scheme.by_kind("v1", "Namespace")
        assert info is not None
        try:
            found: Obj | None = await self.client.get(info, name)
        except errors.NotFound:
            found = self.desired.get(ObjectKey("", "Namespace", "", name))
        if found is None:
            return None
        out = dict(found)
        meta = dict(out.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
        out["metadata"] = meta
        return out

    async def select(self, api_version: str, kind: str, namespace: str, selector: Obj | None) -> list[Obj]:
        info = scheme.by_kind(api_version, kind)
        if info is None:
            return []
        parsed = selectors.from_label_selector_spec(selector or {})
        ns = namespace if info.namespaced else ""
        body = await self.client.list(info, ns or None, label_selector=str(parsed))
        found = {_name(o): dict(o) for o in body.get("items") or []}
        for key, obj in self.desired.items():
            if key.kind == kind and key.group == info.group and (not ns or key.namespace == ns) \
                    and parsed.matches((obj.get("metadata") or {}).get("labels") or {}):
                found[key.name] = obj
        return list(found.values())


def _attributes(change: Change, namespace_object: Obj | None) -> Attributes | None:
    info = scheme.by_kind(*_gvk(change))
    if info is None:
        return None
    operation = {"create": "CREATE", "update": "UPDATE", "delete": "DELETE"}[change.action]
    return Attributes(operation=operation, group=info.group, version=info.version, kind=info.kind,
                      resource=info.plural, name=change.key.name, namespace=change.key.namespace if info.namespaced
                      else "", object=change.desired, old_object=change.live, username=USERNAME,
                      namespace_object=namespace_object)


def _gvk(change: Change) -> tuple[str, str]:
    obj = change.desired or change.live or {}
    return str(obj.get("apiVersion") or ""), change.key.kind


async def check(client: Client, plan: Plan) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the commit's new or changed policies against the plan's writes."""
    moved = {c.key for c in plan.changes if c.action in ("create", "update") and c.key.group == GROUP
             and c.key.kind in (POLICY, BINDING)}
    if not moved:
        return [], []
    policies = {_name(p): p for p in await _live(client, "validatingadmissionpolicies")}
    bindings = {_name(b): b for b in await _live(client, "validatingadmissionpolicybindings")}
    for c in plan.changes:
        if c.key.group == GROUP and c.desired is not None:
            if c.key.kind == POLICY:
                policies[c.key.name] = c.desired
            elif c.key.kind == BINDING:
                bindings[c.key.name] = c.desired
    pairs = []
    for bname, binding in sorted(bindings.items()):
        pname = str((binding.get("spec") or {}).get("policyName") or "")
        if pname in policies and ({ObjectKey(GROUP, BINDING, "", bname), ObjectKey(GROUP, POLICY, "", pname)} & moved):
            try:
                pairs.append((compile_policy(policies[pname]), binding))
            except PolicyCompileError:
                continue  # the dry run of the policy reports it, with the field path
    lookup = _Lookup(client, plan)
    problems: list[str] = []
    warnings: list[str] = []
    namespaces: dict[str, Obj | None] = {}
    for change in (*plan.changes, *plan.prune):
        if change.action == "unchanged" or change.key.group == GROUP:
            continue
        ns = change.key.namespace
        if ns and ns not in namespaces:
            namespaces[ns] = await lookup.namespace(ns)
        attrs = _attributes(change, namespaces.get(ns) if ns else None)
        if attrs is None:
            continue
        for policy, binding in pairs:
            query = param_query(policy, binding, attrs)
            params = None
            if query is not None and (binding.get("spec") or {}).get("paramRef"):
                if query.name:
                    one = await lookup.get(query.api_version, query.kind, query.namespace, query.name)
                    params = [one] if one is not None else []
                else:
                    params = await lookup.select(query.api_version, query.kind, query.namespace, query.selector)
            for decision in evaluate_binding(policy, binding, attrs, params):
                info = scheme.by_kind(*_gvk(change))
                where = f"{change.source}: " if change.source else ""
                if decision.action == "Deny":
                    problems.append(where + deny_message(info.group_resource if info else change.key.kind,
                                                         change.key.name, decision))
                elif decision.action == "Warn":
                    warnings.append(where + warning_message(decision))
                else:
                    log.info("policy audit (pre-flight): %s: %s", change.key, warning_message(decision))
    return problems, warnings
