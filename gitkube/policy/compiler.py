"""Compile a ValidatingAdmissionPolicy once per generation.

:func:`compile_policy` turns a policy object into a :class:`CompiledPolicy` (every
validation, messageExpression, matchCondition and variable compiled), or raises
:class:`PolicyCompileError` naming the policy and each failing field
(``spec.validations[1].expression: ...``). :class:`PolicyCache` keeps the compiled form per
policy name until the policy's uid or generation changes. Pure; used by admission and
pre-flight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gitkube.errors import GitkubeError
from gitkube.policy.cel import CelCompileError, Program, compile_expression

__all__ = [
    "CompiledPolicy",
    "NamedProgram",
    "PolicyCache",
    "PolicyCompileError",
    "Validation",
    "compile_policy",
]


class PolicyCompileError(GitkubeError):
    """A policy whose CEL does not compile. ``problems`` holds ``(field, message)`` pairs."""

    def __init__(self, policy: str, problems: list[tuple[str, str]]) -> None:
        self.policy = policy
        self.problems = list(problems)
        detail = "; ".join(f"{f}: {m}" for f, m in self.problems)
        super().__init__(f"ValidatingAdmissionPolicy '{policy}': CEL does not compile: {detail}")


@dataclass(frozen=True)
class Validation:
    index: int
    program: Program
    message: str
    message_expression: Program | None
    reason: str


@dataclass(frozen=True)
class NamedProgram:
    name: str
    program: Program


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready to evaluate; ``match`` is its ``spec.matchConstraints``."""

    name: str
    failure_policy: str
    param_kind: tuple[str, str] | None  # (apiVersion, kind)
    match: dict[str, Any]
    match_conditions: tuple[NamedProgram, ...]
    variables: tuple[NamedProgram, ...]
    validations: tuple[Validation, ...]


def _compile(source: Any, path: str, want: str | None, problems: list[tuple[str, str]]) -> Program | None:
    if not isinstance(source, str) or not source.strip():
        problems.append((path, "Required value: an expression is required"))
        return None
    try:
        return compile_expression(source, want=want)
    except CelCompileError as exc:
        problems.append((path, f"compilation failed: {exc}"))
        return None


def compile_policy(policy: dict[str, Any]) -> CompiledPolicy:
    """Compile every expression of ``policy``; raise with all problems found."""
    name = str((policy.get("metadata") or {}).get("name") or "")
    spec = policy.get("spec") or {}
    problems: list[tuple[str, str]] = []
    conditions: list[NamedProgram] = []
    for i, cond in enumerate(spec.get("matchConditions") or []):
        prog = _compile(cond.get("expression"), f"spec.matchConditions[{i}].expression", "bool", problems)
        if prog is not None:
            conditions.append(NamedProgram(str(cond.get("name") or i), prog))
    variables: list[NamedProgram] = []
    for i, var in enumerate(spec.get("variables") or []):
        prog = _compile(var.get("expression"), f"spec.variables[{i}].expression", None, problems)
        if prog is not None:
            variables.append(NamedProgram(str(var.get("name") or ""), prog))
    validations: list[Validation] = []
    for i, val in enumerate(spec.get("validations") or []):
        prog = _compile(val.get("expression"), f"spec.validations[{i}].expression", "bool", problems)
        msg_prog = None
        if val.get("messageExpression"):
            msg_prog = _compile(val["messageExpression"], f"spec.validations[{i}].messageExpression", "string",
                                problems)
        if prog is not None:
            validations.append(Validation(i, prog, str(val.get("message") or ""), msg_prog,
                                          str(val.get("reason") or "Invalid")))
    if problems:
        raise PolicyCompileError(name, problems)
    param_kind = spec.get("paramKind")
    return CompiledPolicy(
        name=name,
        failure_policy=str(spec.get("failurePolicy") or "Fail"),
        param_kind=(str(param_kind.get("apiVersion") or ""), str(param_kind.get("kind") or ""))
        if isinstance(param_kind, dict) else None,
        match=dict(spec.get("matchConstraints") or {}),
        match_conditions=tuple(conditions),
        variables=tuple(variables),
        validations=tuple(validations),
    )


@dataclass
class PolicyCache:
    """Compiled policies by name, recompiled when the uid or generation changes. A policy
    that does not compile is cached as its :class:`PolicyCompileError` (re-raised)."""

    _entries: dict[str, tuple[str, CompiledPolicy | PolicyCompileError]] = field(default_factory=dict)

    @staticmethod
    def _version(policy: dict[str, Any]) -> str:
        m = policy.get("metadata") or {}
        if m.get("uid") and m.get("generation"):
            return f"{m['uid']}/{m['generation']}"
        return json.dumps(policy.get("spec") or {}, sort_keys=True)

    def get(self, policy: dict[str, Any]) -> CompiledPolicy:
        name = str((policy.get("metadata") or {}).get("name") or "")
        version = self._version(policy)
        entry = self._entries.get(name)
        if entry is None or entry[0] != version:
            try:
                compiled: CompiledPolicy | PolicyCompileError = compile_policy(policy)
            except PolicyCompileError as exc:
                compiled = exc
            entry = (version, compiled)
            self._entries[name] = entry
        if isinstance(entry[1], PolicyCompileError):
            raise entry[1]
        return entry[1]

    def retain(self, names: set[str]) -> None:
        """Forget policies that no longer exist."""
        for name in set(self._entries) - names:
            del self._entries[name]
