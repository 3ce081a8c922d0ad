"""ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding strategies (structure only).

Defaults (``admissionregistration/v1`` defaults.go): a policy's ``failurePolicy: Fail``; every
MatchResources (a policy's ``matchConstraints``, a binding's ``matchResources``) gets
``matchPolicy: Equivalent`` and empty ``namespaceSelector``/``objectSelector``; every rule
``scope: "*"``; a binding's ``paramRef.parameterNotFoundAction: Deny``.

Validation (``pkg/apis/admissionregistration/validation``): failure policy, param kind,
match constraints with at least one resource rule (operations, API groups and versions,
resources, scopes, ``*`` rules), match conditions and variables with names and expressions,
validations or audit annotations present, each validation with a non-empty expression and a
sane message and reason. Compiling the CEL is the policy engine's job. A binding needs a
``policyName``, a sound ``paramRef`` and a non-empty subset of Deny/Warn/Audit actions that
does not hold both Deny and Warn.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import re
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_list, get_str
from gitkube.apiserver.strategy.meta import validate_label_name, validate_label_selector
from gitkube.errors import Cause

__all__ = [
    "BINDING",
    "POLICY",
    "default_binding",
    "default_policy",
    "validate_binding",
    "validate_policy",
]

_OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
_SCOPES = ("*", "Cluster", "Namespaced")
_REASONS = ("Forbidden", "Invalid", "RequestEntityTooLarge")
_ACTIONS = ("Audit", "Deny", "Warn")
_CEL_IDENTIFIER = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_MAX_AUDIT_ANNOTATIONS = 20
_MAX_VALUE_EXPRESSION = 5 * 1024


def _default_match(match: Any) -> None:
    if not isinstance(match, dict):
        return
    if match.get("matchPolicy") is None:
        match["matchPolicy"] = "Equivalent"
    for name in ("namespaceSelector", "objectSelector"):
        if match.get(name) is None:
            match[name] = {}
    for kind in ("resourceRules", "excludeResourceRules"):
        for rule in get_list(match, kind):
            if isinstance(rule, dict) and rule.get("scope") is None:
                rule["scope"] = "*"


def default_policy(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    if spec.get("failurePolicy") is None:
        spec["failurePolicy"] = "Fail"
    _default_match(spec.get("matchConstraints"))


def default_binding(obj: dict[str, Any]) -> None:
    spec = ensure_dict(obj, "spec")
    _default_match(spec.get("matchResources"))
    param_ref = spec.get("paramRef")
    if isinstance(param_ref, dict) and param_ref.get("parameterNotFoundAction") is None:
        param_ref["parameterNotFoundAction"] = "Deny"


def _resources(resources: list[Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    if not resources:
        out.append(c.required(path))
    with_wild_sub: set[str] = set()
    with_wild_res: set[str] = set()
    double = single = plain = False
    for i, entry in enumerate(resources):
        if not isinstance(entry, str) or not entry:
            out.append(c.required(c.index(path, i)))
            continue
        double = double or entry == "*/*"
        single = single or entry == "*"
        res, sep, sub = entry.partition("/")
        if not sep:
            plain = entry != "*"
            continue
        if res in with_wild_sub:
            out.append(c.invalid(c.index(path, i), entry, f"if '{res}/*' is present, must not specify {entry}"))
        if sub in with_wild_res:
            out.append(c.invalid(c.index(path, i), entry, f"if '*/{sub}' is present, must not specify {entry}"))
        if sub == "*":
            with_wild_sub.add(res)
        if res == "*":
            with_wild_res.add(sub)
    if len(resources) > 1 and double:
        out.append(c.invalid(path, resources, "if '*/*' is present, must not specify other resources"))
    if single and plain:
        out.append(c.invalid(path, resources, "if '*' is present, must not specify other resources without subresources"))
    return out


def _rule(rule: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    names_seen: set[str] = set()
    for i, name in enumerate(get_list(rule, "resourceNames")):
        npath = c.index(c.child(path, "resourceNames"), i)
        if isinstance(name, str):
            out += [c.invalid(npath, name, m) for m in names.is_path_segment_name(name)]
            if name in names_seen:
                out.append(c.duplicate(npath, name))
            names_seen.add(name)
    operations = get_list(rule, "operations")
    if not operations:
        out.append(c.required(c.child(path, "operations")))
    if len(operations) > 1 and "*" in operations:
        out.append(c.invalid(c.child(path, "operations"), operations, "if '*' is present, must not specify other operations"))
    for i, op in enumerate(operations):
        if op not in _OPERATIONS:
            out.append(c.not_supported(c.index(c.child(path, "operations"), i), op, _OPERATIONS))
    groups = get_list(rule, "apiGroups")
    if not groups:
        out.append(c.required(c.child(path, "apiGroups")))
    if len(groups) > 1 and "*" in groups:
        out.append(c.invalid(c.child(path, "apiGroups"), groups, "if '*' is present, must not specify other API groups"))
    versions = get_list(rule, "apiVersions")
    if not versions:
        out.append(c.required(c.child(path, "apiVersions")))
    if len(versions) > 1 and "*" in versions:
        out.append(c.invalid(c.child(path, "apiVersions"), versions, "if '*' is present, must not specify other API versions"))
    for i, version in enumerate(versions):
        if version == "":
            out.append(c.required(c.index(c.child(path, "apiVersions"), i)))
    out += _resources(get_list(rule, "resources"), c.child(path, "resources"))
    scope = rule.get("scope") if isinstance(rule, dict) else None
    if scope is not None and scope not in _SCOPES:
        out.append(c.not_supported(c.child(path, "scope"), scope, _SCOPES))
    return out


def _match_resources(match: Any, path: str) -> list[Cause]:
    if not isinstance(match, dict):
        return []
    out: list[Cause] = []
    policy = match.get("matchPolicy")
    if policy is None:
        out.append(c.required(c.child(path, "matchPolicy")))
    elif policy not in ("Equivalent", "Exact"):
        out.append(c.not_supported(c.child(path, "matchPolicy"), policy, ("Equivalent", "Exact")))
    for name in ("namespaceSelector", "objectSelector"):
        if match.get(name) is None:
            out.append(c.required(c.child(path, name)))
        else:
            out += validate_label_selector(match[name], c.child(path, name))
    for kind in ("resourceRules", "excludeResourceRules"):
        for i, rule in enumerate(get_list(match, kind)):
            out += _rule(rule, c.index(c.child(path, kind), i))
    return out


def _param_kind(kind: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    api_version = get_str(kind, "apiVersion")
    if not api_version:
        out.append(c.required(c.child(path, "apiVersion")))
    else:
        group, _, version = api_version.rpartition("/")
        if api_version.count("/") > 1:
            out.append(c.invalid(c.child(path, "apiVersion"), api_version, f"unexpected GroupVersion string: {api_version}"))
        else:
            if group:
                errs = names.is_dns1123_subdomain(group)
                if errs:
                    out.append(c.invalid(c.child(path, "apiVersion"), group, ",".join(errs)))
            if not version:
                out.append(c.invalid(c.child(path, "apiVersion"), api_version, "version must be specified"))
            else:
                errs = names.is_dns1035_label(version)
                if errs:
                    out.append(c.invalid(c.child(path, "apiVersion"), version, ",".join(errs)))
    kind_name = get_str(kind, "kind")
    if not kind_name:
        out.append(c.required(c.child(path, "kind")))
    else:
        errs = names.is_dns1035_label(kind_name.lower())
        if errs:
            out.append(c.invalid(c.child(path, "kind"), kind_name,
                                 "may have mixed case, but should otherwise match: " + ",".join(errs)))
    return out


def _validation(item: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    expression = get_str(item, "expression")
    if not expression.strip():
        out.append(c.required(c.child(path, "expression"), "expression is not specified"))
    message_expression = get_str(item, "messageExpression")
    if message_expression and not message_expression.strip():
        out.append(c.invalid(c.child(path, "messageExpression"), message_expression, "must be non-empty if specified"))
    message = get_str(item, "message")
    if message and not message.strip():
        out.append(c.invalid(c.child(path, "message"), message, "message must be non-empty if specified"))
    elif "\n" in message.strip() or "\r" in message.strip():
        out.append(c.invalid(c.child(path, "message"), message, "message must not contain line breaks"))
    reason = item.get("reason") if isinstance(item, dict) else None
    if reason is not None and reason not in _REASONS:
        out.append(c.not_supported(c.child(path, "reason"), reason, _REASONS))
    return out


def validate_policy(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    failure = spec.get("failurePolicy")
    if failure is None:
        out.append(c.required("spec.failurePolicy"))
    elif failure not in ("Fail", "Ignore"):
        out.append(c.not_supported("spec.failurePolicy", failure, ("Fail", "Ignore")))
    if spec.get("paramKind") is not None:
        out += _param_kind(spec["paramKind"], "spec.paramKind")
    match = spec.get("matchConstraints")
    if not isinstance(match, dict):
        out.append(c.required("spec.matchConstraints"))
    else:
        out += _match_resources(match, "spec.matchConstraints")
        if not get_list(match, "resourceRules"):
            out.append(c.required("spec.matchConstraints.resourceRules"))
    conditions = get_list(spec, "matchConditions")
    if len(conditions) > 64:
        out.append(c.too_many("spec.matchConditions", len(conditions), 64))
    else:
        seen: set[str] = set()
        for i, condition in enumerate(conditions):
            cpath = c.index("spec.matchConditions", i)
            if not get_str(condition, "expression").strip():
                out.append(c.required(c.child(cpath, "expression")))
            name = get_str(condition, "name")
            if not name:
                out.append(c.required(c.child(cpath, "name")))
            else:
                out += validate_label_name(name, c.child(cpath, "name"))
                if name in seen:
                    out.append(c.duplicate(c.child(cpath, "name"), name))
                seen.add(name)
    for i, variable in enumerate(get_list(spec, "variables")):
        vpath = c.index("spec.variables", i)
        name = get_str(variable, "name")
        if not name:
            out.append(c.required(c.child(vpath, "name"), "name is not specified"))
        elif not _CEL_IDENTIFIER.match(name):
            out.append(c.invalid(c.child(vpath, "name"), name, "name is not a valid CEL identifier"))
        if not get_str(variable, "expression").strip():
            out.append(c.required(c.child(vpath, "expression"), "expression is not specified"))
    validations = get_list(spec, "validations")
    audits = get_list(spec, "auditAnnotations")
    if not validations and not audits:
        msg = "validations or auditAnnotations must contain at least one item"
        out += [c.required("spec.validations", msg), c.required("spec.auditAnnotations", msg)]
    for i, item in enumerate(validations):
        out += _validation(item, c.index("spec.validations", i))
    if len(audits) > _MAX_AUDIT_ANNOTATIONS:
        out.append(c.invalid("spec.auditAnnotations", audits,
                             f"must not have more than {_MAX_AUDIT_ANNOTATIONS} auditAnnotations"))
    policy_name = get_str(get_dict(obj, "metadata"), "name")
    keys: set[str] = set()
    for i, audit in enumerate(audits):
        apath = c.index("spec.auditAnnotations", i)
        key = get_str(audit, "key")
        if policy_name:
            out += [c.invalid(c.child(apath, "key"), f"{policy_name}/{key}", m)
                    for m in names.is_qualified_name(f"{policy_name}/{key}")]
        else:
            out.append(c.invalid(c.child(apath, "key"), key, "requires metadata.name be non-empty"))
        expression = get_str(audit, "valueExpression").strip()
        if not expression:
            out.append(c.required(c.child(apath, "valueExpression"), "valueExpression is not specified"))
        elif len(expression) > _MAX_VALUE_EXPRESSION:
            out.append(c.required(c.child(apath, "valueExpression"), f"must not exceed {_MAX_VALUE_EXPRESSION} bytes in length"))
        if key in keys:
            out.append(c.duplicate(c.child(apath, "key"), key))
        keys.add(key)
    return out


def _param_ref(ref: Any, path: str) -> list[Cause]:
    if not isinstance(ref, dict):
        return []
    out: list[Cause] = []
    name = get_str(ref, "name")
    selector = ref.get("selector")
    if name:
        out += [c.invalid(c.child(path, "name"), name, m) for m in names.is_path_segment_name(name)]
        if selector is not None:
            out.append(c.forbidden(c.child(path, "name"), "name and selector are mutually exclusive"))
    namespace = get_str(ref, "namespace")
    if namespace:
        out += [c.invalid(c.child(path, "namespace"), namespace, m) for m in names.is_path_segment_name(namespace)]
    action = ref.get("parameterNotFoundAction")
    if not action:
        out.append(c.required(c.child(path, "parameterNotFoundAction")))
    elif action not in ("Deny", "Allow"):
        out.append(c.not_supported(c.child(path, "parameterNotFoundAction"), action, ("Deny", "Allow")))
    if selector is not None:
        out += validate_label_selector(selector, c.child(path, "selector"))
        if name:
            out.append(c.forbidden(c.child(path, "selector"), "name and selector are mutually exclusive"))
    if not name and selector is None:
        out.append(c.required(path, "one of name or selector must be specified"))
    return out


def validate_binding(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = get_dict(obj, "spec")
    out: list[Cause] = []
    policy_name = get_str(spec, "policyName")
    if not policy_name:
        out.append(c.required("spec.policyName"))
    else:
        out += [c.invalid("spec.policyName", policy_name, m) for m in names.name_is_dns_subdomain(policy_name, False)]
    out += _param_ref(spec.get("paramRef"), "spec.paramRef")
    # Kubernetes spells this path "matchResouces"; kept for identical messages.
    out += _match_resources(spec.get("matchResources"), "spec.matchResouces")
    actions = get_list(spec, "validationActions")
    seen: set[str] = set()
    for i, action in enumerate(actions):
        if action not in _ACTIONS:
            out.append(c.not_supported(c.index("spec.validationActions", i), action, _ACTIONS))
        if action in seen:
            out.append(c.duplicate(c.index("spec.validationActions", i), action))
        if isinstance(action, str):
            seen.add(action)
    if {"Deny", "Warn"} <= seen:
        out.append(c.invalid("spec.validationActions", actions,
                             "must not contain both Deny and Warn (repeating the same validation failure information "
                             "in the API response and headers serves no purpose)"))
    if not seen:
        out.append(c.required("spec.validationActions", "at least one validation action is required"))
    return out


POLICY = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_policy, validate=validate_policy,
                      kube_finalizers=False)
BINDING = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_binding, validate=validate_binding,
                       kube_finalizers=False)
