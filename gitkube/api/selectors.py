"""Label and field selectors: parsing the Kubernetes string syntax and matching objects.

Label selectors support the whole syntax of ``k8s.io/apimachinery/pkg/labels``: equality
(``a=b``, ``a==b``, ``a!=b``), sets (``a in (x,y)``, ``a notin (x)``), existence (``a``,
``!a``), integer comparison (``a>1``, ``a<5``: the label must hold an integer), comma-joined.
``from_label_selector_spec`` converts a ``metav1.LabelSelector`` (matchLabels /
matchExpressions) as found in Deployments and Services.

Field selectors support ``=``, ``==`` and ``!=`` on dotted paths (``metadata.name``,
``spec.nodeName``, ``status.phase``, ``involvedObject.uid`` ...). Values are compared as
strings, missing fields as "" (as the API server's field label conversion does).

Pure; used by the store (list/watch filtering) and the API server (query parsing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitkube import errors

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "field_value",
    "from_label_selector_spec",
    "parse_field_selector",
    "parse_label_selector",
]

_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_INT_RE = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "=":
            return present and value == self.values[0]
        if self.operator == "!=":
            return not present or value != self.values[0]
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator in ("gt", "lt"):
            # As labels.Requirement.Matches: the label must parse as a decimal integer.
            if value is None or not _INT_RE.fullmatch(value):
                return False
            number, limit = int(value), int(self.values[0])
            return number > limit if self.operator == "gt" else number < limit
        return not present  # "!"

    def __str__(self) -> str:
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"
        if self.operator == "exists":
            return self.key
        if self.operator in ("gt", "lt"):
            return f"{self.key}{'>' if self.operator == 'gt' else '<'}{self.values[0]}"
        return f"!{self.key}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of label requirements; the empty selector matches everything."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        return self.matches((obj.get("metadata") or {}).get("labels") or {})

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _check_key(key: str, text: str) -> str:
    if not key or not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise errors.BadRequest(f'unable to parse requirement: invalid label key "{key}" in selector "{text}"')
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise errors.BadRequest(f'unable to parse requirement: invalid label value "{value}" in selector "{text}"')
    return value


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise errors.BadRequest(f'unable to parse selector "{text}": unbalanced parentheses')
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise errors.BadRequest(f'unable to parse selector "{text}": unbalanced parentheses')
    parts.append("".join(current))
    return parts


_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<vals>[^()]*)\)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the string form of a label selector (``labelSelector=`` query parameter)."""
    if text is None or not text.strip():
        return LabelSelector()
    reqs: list[LabelRequirement] = []
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise errors.BadRequest(f'unable to parse selector "{text}": empty requirement')
        m = _SET_RE.match(part)
        if m:
            key = _check_key(m.group("key"), text)
            vals = tuple(_check_value(v.strip(), text) for v in m.group("vals").split(","))
            reqs.append(LabelRequirement(key, m.group("op"), tuple(sorted(set(vals)))))
            continue
        for op in ("!=", "==", "=", ">", "<"):
            if op in part:
                key, _, value = part.partition(op)
                key = _check_key(key.strip(), text)
                checked = _check_value(value.strip(), text)
                if op in (">", "<") and not _INT_RE.fullmatch(checked):
                    raise errors.BadRequest(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an "
                        f'integer: "{checked}" in selector "{text}"'
                    )
                operator = {"!=": "!=", ">": "gt", "<": "lt"}.get(op, "=")
                reqs.append(LabelRequirement(key, operator, (checked,)))
                break
        else:
            if part.startswith("!"):
                reqs.append(LabelRequirement(_check_key(part[1:].strip(), text), "!"))
            elif " " in part or "(" in part or ")" in part:
                raise errors.BadRequest(f'unable to parse requirement: "{part}" in selector "{text}"')
            else:
                reqs.append(LabelRequirement(_check_key(part, text), "exists"))
    return LabelSelector(tuple(reqs))


def from_label_selector_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` dict. ``None`` matches nothing in Kubernetes;
    callers decide; here it returns the empty (match-all) selector and they check."""
    if not spec:
        return LabelSelector()
    reqs: list[LabelRequirement] = []
    for key, value in sorted((spec.get("matchLabels") or {}).items()):
        reqs.append(LabelRequirement(str(key), "=", (str(value),)))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in spec.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise errors.BadRequest(f'"{expr.get("operator")}" is not a valid label selector operator')
        values = tuple(sorted(str(v) for v in expr.get("values") or ()))
        if op in ("in", "notin") and not values:
            raise errors.BadRequest("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty")
        if op in ("exists", "!") and values:
            raise errors.BadRequest(
                f"values: Invalid value: {list(values)}: values set must be empty for exists and does not exist"
            )
        reqs.append(LabelRequirement(str(expr.get("key", "")), op, values))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return (actual == self.value) if self.operator == "=" else (actual != self.value)


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def value_for(self, path: str) -> str | None:
        """The value an ``=`` requirement pins ``path`` to, if any (used to narrow a
        list to one namespace or one name)."""
        for r in self.requirements:
            if r.path == path and r.operator == "=":
                return r.value
        return None


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value at a dotted path; "" when any step is missing."""
    current: Any = obj
    for step in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(step)
        if current is None:
            return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, (dict, list)):
        return ""
    return str(current)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse the ``fieldSelector=`` query parameter."""
    if text is None or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for raw in text.split(","):
        part = raw.strip()
        for op in ("!=", "==", "="):
            if op in part:
                path, _, value = part.partition(op)
                path = path.strip()
                if not path or not re.match(r"^[A-Za-z0-9_.\-]+$", path):
                    raise errors.BadRequest(f'invalid field selector: "{part}"')
                reqs.append(FieldRequirement(path, "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            raise errors.BadRequest(f'invalid selector: \'{text}\'; can\'t understand \'{part}\'')
    return FieldSelector(tuple(reqs))
