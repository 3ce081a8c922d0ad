"""Shared plumbing of the per-kind strategies: the strategy record and tolerant accessors.

Objects reach the strategies as raw JSON-like dicts that the schema check may not have
vetted yet, so every accessor here tolerates wrong types: ``get_dict`` returns ``{}`` for a
non-dict, ``get_int`` returns ``None`` for a non-integer (and for booleans), and so on. A
strategy never raises on malformed input; type errors are the schema module's to report.

:class:`KindStrategy` bundles what :mod:`gitkube.apiserver.strategy` dispatches to: the
name rule for ``metadata.name``, the defaulting function and the validation function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitkube.errors import Cause

__all__ = [
    "DefaultFn",
    "KindStrategy",
    "NameFn",
    "ValidateFn",
    "ensure_dict",
    "ensure_list",
    "get_bool",
    "get_dict",
    "get_int",
    "get_list",
    "get_str",
    "is_int",
    "str_map",
]

Obj = dict[str, Any]
DefaultFn = Callable[[Obj], None]
ValidateFn = Callable[[Obj, Obj | None], list[Cause]]
NameFn = Callable[[str, bool], list[str]]


@dataclass(frozen=True)
class KindStrategy:
    """How one kind is defaulted and validated (beyond ObjectMeta, which is common)."""

    name_fn: NameFn
    default: DefaultFn
    validate: ValidateFn
    # Kubernetes' core ValidateObjectMeta also rejects unqualified non-standard finalizers.
    kube_finalizers: bool = True


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_dict(obj: Any, name: str) -> dict[str, Any]:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def get_list(obj: Any, name: str) -> list[Any]:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def get_str(obj: Any, name: str) -> str:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def get_int(obj: Any, name: str) -> int | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if is_int(value) else None


def get_bool(obj: Any, name: str) -> bool | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, bool) else None


def str_map(obj: Any, name: str) -> dict[str, str]:
    """A string-to-string map field (labels, selectors), keeping only string entries."""
    return {k: v for k, v in get_dict(obj, name).items() if isinstance(k, str) and isinstance(v, str)}


def ensure_dict(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """The dict at ``obj[name]``, created when missing or null.

    A value of the wrong type is left alone (the schema check reports it) and a detached
    dict is returned, so defaulting into it changes nothing.
    """
    value = obj.get(name)
    if value is None:
        value = {}
        obj[name] = value
    return value if isinstance(value, dict) else {}


def ensure_list(obj: dict[str, Any], name: str) -> list[Any]:
    """The list at ``obj[name]``, created when missing or null (detached if mistyped)."""
    value = obj.get(name)
    if value is None:
        value = []
        obj[name] = value
    return value if isinstance(value, list) else []
