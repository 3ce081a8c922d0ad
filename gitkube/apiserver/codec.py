"""Request bodies in, responses out: media types, size limits, Status bodies, Tables.

- Bodies: JSON (also when Content-Type is missing, as ``kubectl scale --current-replicas``
  sends), YAML, and the four patch media types; protobuf is refused with 415 because
  gitkube does not speak it (KUBECTL-COMPAT.md §1). Bodies over 3 MiB get 413, the limit
  kube-apiserver applies.
- Replies: plain JSON, or a ``meta.k8s.io/v1`` Table when the Accept header asks for one;
  every error as a ``v1.Status`` body; warnings as ``Warning: 299 - "..."`` headers.

Called by ``handlers`` and ``server``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitkube import errors
from gitkube.util import nesting

__all__ = [
    "MAX_BODY",
    "PATCH_TYPES",
    "json_response",
    "read_body",
    "read_object",
    "status_response",
]

MAX_BODY = 3 * 1024 * 1024
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    obj: Any, status: int = 200, *, content_type: str = "application/json", warnings: list[str] | None = None
) -> web.Response:
    headers = {"Content-Type": content_type, "Cache-Control": "no-cache, private"}
    resp = web.Response(body=_dumps(obj), status=status, headers=headers)
    for w in warnings or []:
        resp.headers.add("Warning", f'299 - "{_escape_warning(w)}"')
    return resp


def _escape_warning(text: str) -> str:
    """A warning as a quoted header value: field names come from the request body, and a control
    character in a header would make aiohttp drop the whole response."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return "".join(c if " " <= c != "\x7f" else f"\\x{ord(c):02x}" for c in text)


def status_response(exc: errors.APIError) -> web.Response:
    resp = json_response(exc.to_status(), status=exc.code)
    if exc.retry_after is not None:
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise errors.RequestTooLarge(
            f"the request body is {length} bytes, more than the limit of {MAX_BODY} bytes"
        )
    # Read to the end: StreamReader.read(n) returns only what has arrived so far, which
    # truncates bodies that span several TCP segments.
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = await request.content.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY:
                raise errors.RequestTooLarge(f"the request body is more than the limit of {MAX_BODY} bytes")
            chunks.append(chunk)
    except ValueError as exc:
        raise errors.BadRequest(f"could not read the request body: {exc}") from None
    return b"".join(chunks)


_yaml = YAML(typ="safe", pure=False)


def check_nesting(data: bytes | None, value: Any = None) -> None:
    """400 for a body nested deeper than ``nesting.MAX_DEPTH`` (before the C parser, whose recursion
    would overflow the C stack) or a parsed value with too many nodes (an alias bomb)."""
    try:
        if data is not None:
            nesting.check_yaml_depth(data)
        else:
            nesting.check_value(value)
    except nesting.NestingError as exc:
        raise errors.BadRequest(f"the request body is {exc.message}") from None


def parse_yaml(data: bytes) -> Any:
    check_nesting(data)
    try:
        docs = list(_yaml.load_all(data.decode("utf-8")))
    except (YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.BadRequest(f"error decoding YAML: {str(exc)[:500]}") from None
    for doc in docs:
        check_nesting(None, doc)
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise errors.BadRequest(f"expected exactly one YAML document in the request body, found {len(docs)}")
    return docs[0]


def parse_json(data: bytes) -> Any:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"error decoding the request body as JSON: {exc}") from None
    except RecursionError:
        raise errors.BadRequest(f"the request body is nested more than {nesting.MAX_DEPTH} levels deep") from None
    check_nesting(None, value)
    return value


async def read_object(request: web.Request) -> dict[str, Any]:
    """Read a create/update body (JSON or YAML) as an object."""
    mtype = media_type(request)
    data = await read_body(request)
    if mtype in ("", "application/json", "*/*"):
        obj = parse_json(data)
    elif mtype in ("application/yaml", "application/x-yaml", "text/yaml"):
        obj = parse_yaml(data)
    elif mtype == "application/vnd.kubernetes.protobuf":
        raise errors.UnsupportedMediaType(
            'the body of the request was in an unknown format - accepted media types include: '
            'application/json, application/yaml (gitkube does not accept protobuf bodies; use '
            '"kubectl create ... --dry-run=client -o yaml | kubectl apply -f -")'
        )
    else:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (got {mtype!r})"
        )
    if not isinstance(obj, dict):
        raise errors.BadRequest("the request body must be a JSON object")
    return obj
