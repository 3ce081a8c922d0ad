"""OpenAPI documents: the v3 index, one v3 document per group/version, and the v2 stub.

kubectl fetches OpenAPI v3 before ``create``, ``apply`` and ``diff`` only to decide whether
the server does field validation: it needs, per object GVK, a PATCH operation carrying
``x-kubernetes-group-version-kind`` and a ``fieldValidation`` query parameter
(KUBECTL-COMPAT.md §2.4). Each document is served at a URL carrying a content hash so
kubectl's immutable cache stays right when the document changes.

``/openapi/v2`` is asked for only as protobuf; the 5-byte gnostic ``Document{swagger:"2.0"}``
satisfies kubectl 1.27–1.33 (§2.5).

Pure; built once per process. Called by ``gitkube.apiserver.server``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gitkube.api import scheme

__all__ = ["V2_CONTENT_TYPE", "V2_PROTO_STUB", "OpenAPIV3"]

V2_PROTO_STUB = bytes([0x0A, 0x03, 0x32, 0x2E, 0x30])
V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(r: scheme.ResourceInfo, action: str, verb: str) -> dict[str, Any]:
    return {
        "operationId": f"{verb}{r.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY_PARAMS],
        "responses": {"200": {"description": "OK"}},
    }


def _document(group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    prefix = "/" + _gv_path(group, version)
    for r in scheme.SERVED_RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
        if "create" not in r.verbs:  # read-only views (metrics.k8s.io): get and list only
            paths[base] = {"get": _operation(r, "list", "list")}
            paths[f"{base}/{{name}}"] = {"get": _operation(r, "get", "read")}
            continue
        paths[base] = {"post": _operation(r, "post", "create"), "get": _operation(r, "list", "list")}
        paths[f"{base}/{{name}}"] = {
            "get": _operation(r, "get", "read"),
            "put": _operation(r, "put", "replace"),
            "patch": _operation(r, "patch", "patch"),
            "delete": _operation(r, "delete", "delete"),
        }
        for s in r.subresources:
            if "patch" in s.verbs:
                paths[f"{base}/{{name}}/{s.name}"] = {"patch": _operation(r, "patch", "patch")}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


class OpenAPIV3:
    """Per group/version documents with their hashes, built once."""

    def __init__(self) -> None:
        self._docs: dict[str, bytes] = {}
        self._hashes: dict[str, str] = {}
        for group, version in scheme.group_versions():
            key = _gv_path(group, version)
            body = json.dumps(_document(group, version), separators=(",", ":")).encode()
            self._docs[key] = body
            self._hashes[key] = hashlib.sha512(body).hexdigest().upper()[:128]

    def index(self) -> dict[str, Any]:
        return {
            "paths": {
                key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                for key, digest in self._hashes.items()
            }
        }

    def document(self, key: str) -> tuple[bytes, str] | None:
        """The body and hash of ``api/v1`` or ``apis/<group>/<version>``, if served."""
        if key not in self._docs:
            return None
        return self._docs[key], self._hashes[key]
