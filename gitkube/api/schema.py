"""The Kubernetes schemas of every served kind: the one import for schema questions.

The definitions come from the ``kubernetes-validate`` package, which ships the Kubernetes 1.32
OpenAPI as JSON schema (``kubernetes-json-schema/v1.32.0-local-strict/_definitions.json``: 638
definitions with ``additionalProperties: false`` and the ``x-kubernetes-*`` extensions). They are
read once, lazily, and cached.

- :func:`schema_for` gives the :class:`Schema` of a kind (``apps/v1``, ``Deployment``), or None for
  kinds Kubernetes does not define (gitkube's own kinds, custom resources).
- :class:`Schema` walks one node: ``field``, ``items``, ``additional``, and the patch metadata
  (``patch_merge_key``, ``patch_strategy``, ``list_type``, ``list_map_keys``, ``map_type``).
- :func:`check_fields` lists unknown fields and wrong JSON types (``fieldValidation=Strict|Warn``);
  :func:`drop_unknown` removes unknown fields (``fieldValidation=Ignore``, the default).

The node code lives in :mod:`gitkube.api.schema_defs`, validation in
:mod:`gitkube.api.schema_fields`. Callers: ``gitkube.apiserver.patch`` (strategic merge patch and
server-side apply read merge keys and list types) and the API server's object validation.
"""

from __future__ import annotations

from gitkube.api.schema_defs import (
    SCHEMA_VERSION,
    Schema,
    definition,
    definition_name,
    definitions,
    schema_for,
)
from gitkube.api.schema_fields import FieldReport, check_fields, drop_unknown, format_path

__all__ = [
    "SCHEMA_VERSION",
    "FieldReport",
    "Schema",
    "check_fields",
    "definition",
    "definition_name",
    "definitions",
    "drop_unknown",
    "format_path",
    "schema_for",
]
