"""Admission of an object body: decoding checks, field validation, create-time preparation,
defaulting and semantic validation.

The order is the Kubernetes one: decode (apiVersion/kind must match the URL; JSON types
must match the schema: a mismatch is a 400 decoding error), field validation (unknown
fields: ``Strict`` → 400 ``strict decoding error``, ``Warn`` → dropped with a warning,
``Ignore`` → dropped), then the kind's defaulting and validation (422 listing every
invalid field). Nothing here writes. Called by ``registry``.
"""

from __future__ import annotations

from typing import Any

from gitkube import errors
from gitkube.api import schema, scheme
from gitkube.apiserver import strategy
from gitkube.apiserver.strategy import pod_defaults

__all__ = [
    "FIELD_VALIDATION",
    "decode_object",
    "default_and_validate",
    "prepare_for_create",
]

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def decode_object(info: scheme.ResourceInfo, obj: Any, field_validation: str) -> list[str]:
    """Check an object body against its kind; returns warnings. Drops unknown fields
    unless ``field_validation`` is ``Strict``, where they are an error."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the body of the request was in an unknown format: expected a JSON object, got {type(obj).__name__}")
    api_version = obj.get("apiVersion") or info.api_version
    kind = obj.get("kind") or info.kind
    if api_version != info.api_version:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
        )
    if kind != info.kind:
        raise errors.BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
    obj["apiVersion"], obj["kind"] = api_version, kind
    if not isinstance(obj.get("metadata", {}), dict):
        raise errors.BadRequest(
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: metadata must be an object'
        )
    report = schema.check_fields(api_version, kind, obj)
    if report.type_errors:
        detail = "; ".join(f"{c.field}: {c.message}" if c.field else c.message for c in report.type_errors)
        raise errors.BadRequest(
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: {detail}'
        )
    if not report.unknown:
        return []
    if field_validation == "Strict":
        raise errors.BadRequest(report.strict_message())
    cleaned = schema.drop_unknown(api_version, kind, obj)
    obj.clear()
    obj.update(cleaned)
    if field_validation == "Warn":
        return report.warnings()
    return []


def prepare_for_create(info: scheme.ResourceInfo, obj: dict[str, Any]) -> None:
    """Reset what clients may not set on create, as each kind's strategy does."""
    if info.group == "" and info.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": pod_defaults.pod_qos_class(obj.get("spec") or {})}
    elif info.group == "" and info.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif info.group == "" and info.kind == "Node":
        pass  # nodes may be created with their status (the node agent does so)
    elif info.has_status:
        obj.pop("status", None)


def default_and_validate(info: scheme.ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Apply the kind's defaults, then raise Invalid with every problem found."""
    strategy.default(info, obj)
    causes = strategy.validate(info, obj, old)
    if causes:
        raise strategy.to_invalid(info, str((obj.get("metadata") or {}).get("name", "")), causes)
