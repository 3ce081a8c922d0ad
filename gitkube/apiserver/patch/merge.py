"""Schema-free patches: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

- :func:`merge_patch` is ``application/merge-patch+json`` as Kubernetes applies it with
  evanphx/json-patch: objects merge recursively, ``null`` removes a key, anything else
  (including lists) replaces; nulls inside newly added objects are dropped.
- :func:`json_patch` is ``application/json-patch+json`` through the ``jsonpatch`` library.
  A failing operation is a 422 ``Invalid`` with the message Kubernetes gives ("the server
  rejected our request due to an error in our request"); kubectl prints it as
  ``The request is invalid: ...``. More than 10,000 operations is a 413.

Both take the decoded patch (see :func:`gitkube.apiserver.patch.decode_json`) and never modify
the live object. Callers: :func:`gitkube.apiserver.patch.apply_patch`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer

from gitkube import errors

__all__ = ["MAX_JSON_PATCH_OPERATIONS", "json_patch", "merge_patch", "not_an_object"]

MAX_JSON_PATCH_OPERATIONS = 10000
_REJECTED = "the server rejected our request due to an error in our request"


def merge_patch(live: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: ``patch`` merged into a copy of ``live``."""
    if isinstance(patch, list):
        raise not_an_object(_prune_nulls(copy.deepcopy(patch)))
    if not isinstance(patch, dict):
        raise errors.BadRequest("Invalid JSON Patch")
    out = copy.deepcopy(live)
    _merge_into(out, patch)
    return out


def _merge_into(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            _merge_into(doc[key], value)
        else:
            doc[key] = _prune_nulls(copy.deepcopy(value))


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def json_patch(live: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902: ``operations`` applied in order to a copy of ``live``."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        kind = (
            "object" if isinstance(operations, dict) else "array" if isinstance(operations, list) else "value"
        )
        raise errors.BadRequest(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.RequestTooLarge(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}"
        )
    try:
        result = jsonpatch.JsonPatch(operations).apply(live, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        raise errors.Invalid(_REJECTED) from None
    if not isinstance(result, dict):
        raise not_an_object(result)
    return result


def not_an_object(result: Any) -> errors.Invalid:
    """The 422 Kubernetes gives when a patched document no longer decodes as an object."""
    text = json.dumps(result, separators=(",", ":"))
    kind = "array" if isinstance(result, list) else "string" if isinstance(result, str) else "number"
    if result is None or isinstance(result, bool):
        kind = "bool" if isinstance(result, bool) else "null"
    detail = f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    cause = errors.Cause(field="patch", message=f"Invalid value: {json.dumps(text)}: {detail}")
    return errors.Invalid(
        f' "" is invalid: patch: Invalid value: {json.dumps(text)}: {detail}', causes=[cause]
    )
