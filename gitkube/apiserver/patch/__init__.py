"""PATCH for the API server: the four Kubernetes patch types and field ownership.

:func:`apply_patch` dispatches on the request's media type (anything after ``;`` is ignored):

=======================================  ====================================================
``application/json-patch+json``          RFC 6902 (:func:`.merge.json_patch`)
``application/merge-patch+json``         RFC 7386 (:func:`.merge.merge_patch`)
``application/strategic-merge-patch+json``  schema-driven (:func:`.strategic.strategic_merge`);
                                         415 for kinds without a Kubernetes schema
``application/apply-patch+yaml``         server-side apply (:func:`.apply.server_side_apply`)
=======================================  ====================================================

Any other media type is a 415 listing the accepted ones, worded as Kubernetes words it. A body
that is not valid JSON is a 400 naming the problem.

Field ownership lives beside it: :func:`.apply.server_side_apply` for apply, and
:func:`.apply_update.track_update`, which every other write (create, update, the three
non-apply patches) calls to maintain ``metadata.managedFields``.

Callers: the API server's PATCH route (patch, then admission, validation and the store write),
and its create/update routes for :func:`track_update`.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitkube import errors
from gitkube.api.schema import schema_for
from gitkube.apiserver.patch.apply import LAST_APPLIED_ANNOTATION, server_side_apply
from gitkube.apiserver.patch.apply_update import manager_or_user_agent, track_update
from gitkube.apiserver.patch.merge import json_patch, merge_patch
from gitkube.apiserver.patch.strategic import StrategicMergeError, strategic_merge
from gitkube.util import nesting

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "LAST_APPLIED_ANNOTATION",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "decode_json",
    "manager_or_user_agent",
    "media_type",
    "parse_apply_body",
    "server_side_apply",
    "supported_patch_types",
    "track_update",
    "validate_patch_options",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_MAX_MANAGER_BYTES = 128


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, without parameters (``; charset=utf-8``)."""
    return content_type.split(";", 1)[0].strip()


def supported_patch_types(api_version: str, kind: str) -> tuple[str, ...]:
    """The patch types Kubernetes accepts for a kind, in its order (no strategic merge without schema)."""
    if schema_for(api_version, kind) is None:
        return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)
    return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


def _unsupported(api_version: str, kind: str) -> errors.UnsupportedMediaType:
    accepted = ", ".join(supported_patch_types(api_version, kind))
    return errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    )


def apply_patch(
    content_type: str,
    live: dict[str, Any],
    body: bytes,
    api_version: str,
    kind: str,
    *,
    manager: str | None = None,
    force: bool = False,
    now: str | None = None,
) -> dict[str, Any]:
    """The object ``live`` becomes when ``body`` is applied as a patch of ``content_type``.

    ``live`` is not modified. For apply patches ``manager`` is required (``force`` and ``now``
    are used too) and the result carries the new ``managedFields``; for the other types call
    :func:`track_update` on the result once it is final.
    """
    kind_of_patch = media_type(content_type)
    if kind_of_patch not in supported_patch_types(api_version, kind):
        raise _unsupported(api_version, kind)
    if kind_of_patch == JSON_PATCH:
        return json_patch(live, decode_json(body))
    if kind_of_patch == MERGE_PATCH:
        try:
            patch = decode_json(body)
        except errors.BadRequest:
            raise errors.BadRequest("Invalid JSON Patch") from None
        return merge_patch(live, patch)
    if kind_of_patch == STRATEGIC_MERGE_PATCH:
        patch = decode_json(body)
        if not isinstance(patch, dict):
            raise errors.BadRequest(
                f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}"
            )
        try:
            return strategic_merge(live, patch, schema_for(api_version, kind))
        except StrategicMergeError as exc:
            if exc.code == 422:
                raise errors.Invalid(exc.message) from None
            raise errors.BadRequest(exc.message) from None
    validate_patch_options(APPLY_PATCH, manager, force)
    stamp = now or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return server_side_apply(
        live or None,
        parse_apply_body(body),
        manager=manager or "",
        force=force,
        api_version=api_version,
        kind=kind,
        now=stamp,
    )


def validate_patch_options(patch_type: str, field_manager: str | None, force: bool | None) -> None:
    """Kubernetes' PatchOptions checks: apply needs a fieldManager, force is for apply only."""
    problems: list[errors.Cause] = []
    if media_type(patch_type) != APPLY_PATCH:
        if force is not None and force is not False:
            problems.append(
                errors.Cause(
                    "force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden"
                )
            )
    elif not field_manager:
        problems.append(
            errors.Cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")
        )
    if field_manager:
        if len(field_manager.encode()) > _MAX_MANAGER_BYTES:
            problems.append(
                errors.Cause(
                    "fieldManager",
                    f"Too long: may not be more than {_MAX_MANAGER_BYTES} bytes",
                    "FieldValueTooLong",
                )
            )
        if not field_manager.isprintable():
            problems.append(
                errors.Cause(
                    "fieldManager",
                    f'Invalid value: "{field_manager}": must only contain printable characters',
                    "FieldValueInvalid",
                )
            )
    if problems:
        texts = [f"{c.field}: {c.message}" for c in problems]
        detail = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        raise errors.Invalid(
            f'PatchOptions.meta.k8s.io "" is invalid: {detail}',
            kind="PatchOptions",
            group="meta.k8s.io",
            causes=problems,
        )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; errors.BadRequest worded like Go's ``encoding/json`` when it is not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.BadRequest("invalid character in JSON input: not UTF-8") from None
    if not text.strip():
        raise errors.BadRequest("unexpected end of JSON input")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise errors.BadRequest(_go_json_error(exc)) from None
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from None
    except RecursionError:
        raise errors.BadRequest(f"the patch is nested more than {nesting.MAX_DEPTH} levels deep") from None
    _check_value(value)
    return value


def _check_value(value: Any) -> None:
    try:
        nesting.check_value(value)
    except nesting.NestingError as exc:
        raise errors.BadRequest(f"the patch is {exc.message}") from None


def _go_json_error(exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected end of JSON input"
    char = repr(exc.doc[exc.pos])
    if exc.msg.startswith("Expecting value"):
        return f"invalid character {char} looking for beginning of value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if exc.msg.startswith("Expecting ','"):
        return f"invalid character {char} after object key:value pair"
    if exc.msg.startswith("Extra data"):
        return f"invalid character {char} after top-level value"
    return f"invalid character {char} in JSON input: {exc.msg}"


@functools.cache
def _yaml() -> YAML:
    return YAML(typ="safe", pure=False)


def parse_apply_body(body: bytes) -> dict[str, Any]:
    """The applied configuration of an apply patch (YAML, or JSON since JSON is YAML)."""
    try:
        nesting.check_yaml_depth(body)
        data = _yaml().load(body)
    except nesting.NestingError as exc:
        raise errors.BadRequest(f"the patch is {exc.message}") from None
    except (YAMLError, RecursionError) as exc:
        raise errors.BadRequest(f"error decoding YAML: {str(exc)[:500]}") from None
    _check_value(data)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.BadRequest(
            f"error decoding YAML: json: cannot unmarshal {_json_kind(data)} into Go value of type map[string]interface {{}}"
        )
    result: dict[str, Any] = _to_json_value(data)
    return result


def _to_json_value(value: Any) -> Any:
    """YAML values as their JSON equivalents: string keys, RFC 3339 timestamps."""
    if isinstance(value, dict):
        return {_key(k): _to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json_value(v) for v in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
