"""Evaluate a compiled policy through one of its bindings against one request.

:func:`evaluate_binding` applies the policy's and the binding's match rules, then for each
param object (or once, without ``paramKind``) evaluates the variables, the matchConditions
(any false: the policy does not apply) and every validation, returning one
:class:`Decision` per failed validation and per binding action (Deny, Warn, Audit). An
expression that errors at run time is a failure handled by the policy's ``failurePolicy``
(``Fail``: a decision; ``Ignore``: nothing). :func:`param_query` says which params the caller
must fetch for a binding. Pure; used by the API server's admission and pre-flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitkube.policy import cel
from gitkube.policy.compiler import CompiledPolicy, Validation
from gitkube.policy.match import Attributes, matches

__all__ = ["Decision", "ParamQuery", "deny_message", "evaluate_binding", "param_query", "warning_message"]


@dataclass(frozen=True)
class Decision:
    """One failed validation (or evaluation failure) and what the binding does about it."""

    policy: str
    binding: str
    action: str  # Deny | Warn | Audit
    message: str
    reason: str = "Invalid"


@dataclass(frozen=True)
class ParamQuery:
    """The params a binding refers to: one object by ``name`` or every one ``selector`` picks."""

    api_version: str
    kind: str
    namespace: str  # "" for a cluster-scoped param kind (or the caller decides)
    name: str
    selector: dict[str, Any] | None
    not_found_action: str  # Allow | Deny


def param_query(policy: CompiledPolicy, binding: dict[str, Any], attrs: Attributes) -> ParamQuery | None:
    """None when the policy has no ``paramKind``. A binding's paramRef without a namespace
    looks in the request's namespace (the caller ignores it for cluster-scoped kinds)."""
    if policy.param_kind is None:
        return None
    ref = (binding.get("spec") or {}).get("paramRef") or {}
    return ParamQuery(
        api_version=policy.param_kind[0],
        kind=policy.param_kind[1],
        namespace=str(ref.get("namespace") or attrs.namespace or ""),
        name=str(ref.get("name") or ""),
        selector=ref.get("selector") if ref.get("selector") is not None else None,
        not_found_action=str(ref.get("parameterNotFoundAction") or "Deny"),
    )


def _actions(binding: dict[str, Any]) -> list[str]:
    return list((binding.get("spec") or {}).get("validationActions") or ["Deny"])


def _message(validation: Validation, act: Any) -> str:
    if validation.message_expression is not None:
        try:
            text = validation.message_expression.eval(act)
        except cel.CelEvalError:
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return text.strip()
    if validation.message:
        return validation.message
    return f"failed expression: {validation.program.source}"


def _decide(policy: CompiledPolicy, binding: dict[str, Any], message: str, reason: str) -> list[Decision]:
    name = str((binding.get("metadata") or {}).get("name") or "")
    return [Decision(policy.name, name, action, message, reason) for action in _actions(binding)]


def _failure(policy: CompiledPolicy, binding: dict[str, Any], message: str) -> list[Decision]:
    if policy.failure_policy == "Ignore":
        return []
    return _decide(policy, binding, message, "Invalid")


def _evaluate_once(policy: CompiledPolicy, binding: dict[str, Any], attrs: Attributes,
                   param: dict[str, Any] | None) -> list[Decision]:
    base: dict[str, Any] = {
        "object": attrs.object,
        "oldObject": attrs.old_object,
        "request": attrs.request(),
        "params": param,
        "namespaceObject": attrs.namespace_object,
    }
    variables: dict[str, Any] = {}
    failed_vars: dict[str, str] = {}
    for var in policy.variables:
        try:
            variables[var.name] = var.program.eval(cel.activation({**base, "variables": variables}))
        except cel.CelEvalError as exc:
            failed_vars[var.name] = str(exc)
    act = cel.activation({**base, "variables": variables})
    for cond in policy.match_conditions:
        try:
            applies = cond.program.eval(act)
        except cel.CelEvalError as exc:
            return _failure(policy, binding, f"failed to evaluate matchCondition '{cond.name}': {exc}")
        if applies is False:
            return []
        if applies is not True:
            return _failure(policy, binding, f"matchCondition '{cond.name}' did not evaluate to a bool")
    decisions: list[Decision] = []
    for validation in policy.validations:
        try:
            ok = validation.program.eval(act)
        except cel.CelEvalError as exc:
            detail = str(exc)
            for var_name, var_error in failed_vars.items():
                if f"variables.{var_name}" in validation.program.source:
                    detail = f"variable '{var_name}' resulted in error: {var_error}"
            decisions += _failure(policy, binding,
                                  f"expression '{validation.program.source}' resulted in error: {detail}")
            continue
        if ok is True:
            continue
        if ok is not False:
            decisions += _failure(policy, binding,
                                  f"expression '{validation.program.source}' did not evaluate to a bool")
            continue
        decisions += _decide(policy, binding, _message(validation, act), validation.reason)
    return decisions


def evaluate_binding(policy: CompiledPolicy, binding: dict[str, Any], attrs: Attributes,
                     params: list[dict[str, Any]] | None = None) -> list[Decision]:
    """The decisions ``binding`` of ``policy`` makes about the request. ``params`` are the
    objects :func:`param_query` asked for (ignored when the policy has no paramKind)."""
    if not matches(policy.match, attrs):
        return []
    binding_match = (binding.get("spec") or {}).get("matchResources")
    if binding_match and not matches(binding_match, attrs, rules_required=False):
        return []
    if policy.param_kind is None:
        return _evaluate_once(policy, binding, attrs, None)
    query = param_query(policy, binding, attrs)
    assert query is not None
    if not (binding.get("spec") or {}).get("paramRef"):
        return _failure(policy, binding, "policy has paramKind but the binding has no paramRef")
    if not params:
        if query.not_found_action == "Allow":
            return []
        return _failure(policy, binding, "no params found for policy binding with `Deny` parameterNotFoundAction")
    decisions: list[Decision] = []
    for param in params:
        decisions += _evaluate_once(policy, binding, attrs, param)
    return decisions


def deny_message(group_resource: str, name: str, decision: Decision) -> str:
    """Kubernetes' wording of a denial (``deployments.apps "web" is forbidden: ...``)."""
    return (f'{group_resource} "{name}" is forbidden: ValidatingAdmissionPolicy \'{decision.policy}\' '
            f"with binding '{decision.binding}' denied request: {decision.message}")


def warning_message(decision: Decision) -> str:
    """The ``Warning`` header text of a Warn action, as Kubernetes words it."""
    return (f"Validation failed for ValidatingAdmissionPolicy '{decision.policy}' with binding "
            f"'{decision.binding}': {decision.message}")
