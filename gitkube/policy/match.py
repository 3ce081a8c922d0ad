"""Which requests a policy (``spec.matchConstraints``) or a binding (``spec.matchResources``)
applies to, as Kubernetes' admission matcher decides.

``resourceRules`` (apiGroups, apiVersions, resources with ``*``, ``*/*``, ``pods/*``,
``*/status`` forms, operations, scope, resourceNames), ``excludeResourceRules``,
``namespaceSelector`` (tried on the request's Namespace; on the object itself when it is a
Namespace; cluster-scoped objects are never skipped by it) and ``objectSelector`` (the new or
the old object's labels). Pure; used by :mod:`gitkube.policy.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitkube.api import selectors

__all__ = ["Attributes", "matches", "rule_matches"]


@dataclass(frozen=True)
class Attributes:
    """One admission request: what is written, by whom, and the objects involved."""

    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    group: str
    version: str
    kind: str
    resource: str  # plural
    name: str
    namespace: str  # "" for cluster-scoped objects
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None = None
    subresource: str = ""
    username: str = ""
    dry_run: bool = False
    namespace_object: dict[str, Any] | None = None

    def request(self) -> dict[str, Any]:
        """The CEL ``request`` variable (admission.k8s.io AdmissionRequest fields)."""
        return {
            "operation": self.operation,
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "subResource": self.subresource,
            "requestKind": {"group": self.group, "version": self.version, "kind": self.kind},
            "requestResource": {"group": self.group, "version": self.version, "resource": self.resource},
            "name": self.name,
            "namespace": self.namespace,
            "userInfo": {"username": self.username},
            "dryRun": self.dry_run,
        }


def _any(values: Any, value: str) -> bool:
    return any(v == "*" or v == value for v in values or [])


def _resource_matches(patterns: Any, resource: str, subresource: str) -> bool:
    for pattern in patterns or []:
        res, _, sub = str(pattern).partition("/")
        if pattern == "*/*":
            return True
        if res not in ("*", resource):
            continue
        if (not sub and not subresource) or (sub and (sub == "*" or sub == subresource)):
            return True
    return False


def rule_matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    """One NamedRuleWithOperations against the request."""
    if not _any(rule.get("operations"), attrs.operation):
        return False
    if not _any(rule.get("apiGroups"), attrs.group) or not _any(rule.get("apiVersions"), attrs.version):
        return False
    if not _resource_matches(rule.get("resources"), attrs.resource, attrs.subresource):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and attrs.namespace or scope == "Namespaced" and not attrs.namespace:
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def _namespace_selected(spec: Any, attrs: Attributes) -> bool:
    if not spec:
        return True
    selector = selectors.from_label_selector_spec(spec)
    if attrs.kind == "Namespace" and not attrs.group:
        return selector.matches(_labels(attrs.object or attrs.old_object))
    if not attrs.namespace:
        return True
    return selector.matches(_labels(attrs.namespace_object))


def _object_selected(spec: Any, attrs: Attributes) -> bool:
    if not spec:
        return True
    selector = selectors.from_label_selector_spec(spec)
    return any(obj is not None and selector.matches(_labels(obj)) for obj in (attrs.object, attrs.old_object))


def matches(match: dict[str, Any] | None, attrs: Attributes, *, rules_required: bool = True) -> bool:
    """Whether MatchResources ``match`` selects the request. A binding's matchResources
    without resourceRules constrains nothing (``rules_required=False``)."""
    match = match or {}
    rules = match.get("resourceRules")
    if rules or rules_required:
        if not any(rule_matches(r, attrs) for r in rules or []):
            return False
    if any(rule_matches(r, attrs) for r in match.get("excludeResourceRules") or []):
        return False
    return _namespace_selected(match.get("namespaceSelector"), attrs) and _object_selected(
        match.get("objectSelector"), attrs)
