"""Kubernetes OpenAPI schema nodes: loading the definitions and walking them.

Use it through :mod:`gitkube.api.schema`, which re-exports everything here.

The definitions come from the ``kubernetes-validate`` package, which ships the Kubernetes 1.32
OpenAPI as JSON schema (``kubernetes-json-schema/v1.32.0-local-strict/_definitions.json``: 638
definitions under ``$defs`` with ``additionalProperties: false`` and the ``x-kubernetes-*``
extensions). The file is read once, lazily, and cached for the life of the process.

:class:`Schema` wraps one node and resolves ``$ref`` on the way, keeping the extensions that sit
beside a ``$ref`` (``x-kubernetes-patch-strategy`` on ``spec.strategy`` for instance). The patch
code (strategic merge patch, server-side apply) walks objects with it; field validation
(:mod:`gitkube.api.schema_fields`) builds one JSON-schema validator per kind from the same data.

Callers: :mod:`gitkube.api.schema` (the public face) and :mod:`gitkube.api.schema_fields`.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Schema",
    "definition",
    "definition_name",
    "definitions",
    "schema_for",
]

SCHEMA_VERSION = "v1.32.0-local-strict"
_PACKAGE = "kubernetes_validate"
_DEFS_FILE = f"kubernetes-json-schema/{SCHEMA_VERSION}/_definitions.json"
_REF_PREFIX = "#/$defs/"


@functools.cache
def _document() -> dict[str, Any]:
    resource = importlib.resources.files(_PACKAGE).joinpath(_DEFS_FILE)
    with resource.open("rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def definitions() -> dict[str, dict[str, Any]]:
    """Every definition by its OpenAPI name (``io.k8s.api.apps.v1.DeploymentSpec``)."""
    defs: dict[str, dict[str, Any]] = _document()["$defs"]
    return defs


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, raw in definitions().items():
        for gvk in raw.get("x-kubernetes-group-version-kind", ()):
            index.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return index


def definition_name(api_version: str, kind: str) -> str | None:
    """The OpenAPI definition name of a kind, or None when Kubernetes has no such kind."""
    group, _, version = api_version.rpartition("/")
    return _gvk_index().get((group, version, kind))


def definition(name: str) -> Schema | None:
    """The schema of one definition by name."""
    raw = definitions().get(name)
    return None if raw is None else _node(raw, name)


def schema_for(api_version: str, kind: str) -> Schema | None:
    """The schema of a top-level kind (``apps/v1``, ``Deployment``), or None for kinds without one."""
    name = definition_name(api_version, kind)
    return None if name is None else definition(name)


_NODES: dict[int, Schema] = {}


def _node(raw: dict[str, Any], name: str = "") -> Schema:
    """The cached :class:`Schema` of a raw node (raw nodes live as long as the process)."""
    key = id(raw)
    found = _NODES.get(key)
    if found is not None:
        return found
    merged = raw
    seen = 0
    while "$ref" in merged and seen < 32:
        seen += 1
        ref = str(merged["$ref"])
        name = ref.rsplit("/", 1)[-1] if ref.startswith(_REF_PREFIX) or "/$defs/" in ref else ref
        target = definitions().get(name, {})
        extra = {k: v for k, v in merged.items() if k not in ("$ref", "description")}
        merged = {**target, **extra} if extra else target
    node = Schema(merged, name)
    _NODES[key] = node
    return node


class Schema:
    """One schema node with ``$ref`` resolved.

    ``raw`` is the resolved JSON-schema dict. ``name`` is the OpenAPI definition name when the
    node came through a ``$ref`` (``io.k8s.api.core.v1.Container``), else "".
    """

    __slots__ = ("name", "raw")

    def __init__(self, raw: dict[str, Any], name: str = "") -> None:
        self.raw = raw
        self.name = name

    def __repr__(self) -> str:
        return f"Schema({self.name or self.types})"

    # -- navigation -------------------------------------------------------------------------

    def field(self, name: str) -> Schema | None:
        """The schema of a declared struct field, or None."""
        props = self.raw.get("properties")
        if isinstance(props, dict):
            sub = props.get(name)
            if isinstance(sub, dict):
                return _node(sub)
        return None

    def fields(self) -> tuple[str, ...]:
        """Names of the declared struct fields."""
        props = self.raw.get("properties")
        return tuple(props) if isinstance(props, dict) else ()

    def items(self) -> Schema | None:
        """The schema of list elements, or None."""
        sub = self.raw.get("items")
        return _node(sub) if isinstance(sub, dict) else None

    def additional(self) -> Schema | None:
        """The schema of map values (``additionalProperties``), or None."""
        sub = self.raw.get("additionalProperties")
        return _node(sub) if isinstance(sub, dict) else None

    def child(self, key: str) -> Schema | None:
        """A struct field if declared, else the map value schema, else None."""
        return self.field(key) or self.additional()

    # -- shape --------------------------------------------------------------------------------

    @property
    def types(self) -> frozenset[str]:
        t = self.raw.get("type")
        if isinstance(t, str):
            return frozenset((t,))
        if isinstance(t, list):
            return frozenset(str(x) for x in t)
        return frozenset()

    @property
    def is_struct(self) -> bool:
        """An object with declared properties."""
        return bool(self.raw.get("properties"))

    @property
    def is_map(self) -> bool:
        """An object whose keys are free (``additionalProperties`` is a schema)."""
        return not self.is_struct and isinstance(self.raw.get("additionalProperties"), dict)

    @property
    def is_object(self) -> bool:
        return "object" in self.types or self.is_struct or self.is_map

    @property
    def is_array(self) -> bool:
        return "array" in self.types or "items" in self.raw

    @property
    def is_int_or_string(self) -> bool:
        return self._one_of_types() == {"string", "integer"}

    @property
    def is_quantity(self) -> bool:
        return self._one_of_types() == {"string", "number"}

    @property
    def one_of_types(self) -> frozenset[str]:
        """The JSON types a ``oneOf`` node accepts (int-or-string, quantities); empty if none."""
        return frozenset(self._one_of_types())

    def _one_of_types(self) -> set[str]:
        one_of = self.raw.get("oneOf")
        out: set[str] = set()
        if isinstance(one_of, list):
            for alt in one_of:
                if isinstance(alt, dict):
                    out.update(_node(alt).types - {"null"})
        return out

    @property
    def closed(self) -> bool:
        """A struct that rejects undeclared fields (``additionalProperties: false``)."""
        return self.raw.get("additionalProperties") is False

    # -- Kubernetes extensions ------------------------------------------------------------

    @property
    def patch_merge_key(self) -> str | None:
        key = self.raw.get("x-kubernetes-patch-merge-key")
        return str(key) if key else None

    @property
    def patch_strategy(self) -> frozenset[str]:
        """The strategic-merge-patch strategies: a subset of {"merge", "retainKeys", "replace"}."""
        value = self.raw.get("x-kubernetes-patch-strategy")
        if not value:
            return frozenset()
        return frozenset(s.strip() for s in str(value).split(",") if s.strip())

    @property
    def list_type(self) -> str | None:
        """``x-kubernetes-list-type``: "atomic", "set", "map" or None."""
        value = self.raw.get("x-kubernetes-list-type")
        return str(value) if value else None

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        keys = self.raw.get("x-kubernetes-list-map-keys")
        return tuple(str(k) for k in keys) if isinstance(keys, list) else ()

    @property
    def map_type(self) -> str | None:
        """``x-kubernetes-map-type``: "atomic", "granular" or None."""
        value = self.raw.get("x-kubernetes-map-type")
        return str(value) if value else None

    @property
    def short_name(self) -> str:
        """The Go type name of a definition: ``DeploymentSpec`` for io.k8s.api.apps.v1.DeploymentSpec."""
        return self.name.rsplit(".", 1)[-1] if self.name else ""

    @property
    def go_type(self) -> str:
        """The Go type this node decodes into, as Go's JSON errors spell it (``int32``, ``[]v1.Container``)."""
        if self.name:
            parts = self.name.split(".")
            if self.is_int_or_string:
                return "intstr.IntOrString"
            if self.is_quantity:
                return "resource.Quantity"
            return ".".join(parts[-2:]) if len(parts) >= 2 else self.name
        types = self.types - {"null"}
        if "array" in types:
            items = self.items()
            return "[]" + (items.go_type if items else "interface {}")
        if "object" in types:
            value = self.additional()
            return "map[string]" + (value.go_type if value else "interface {}")
        if "integer" in types:
            fmt = self.raw.get("format")
            return str(fmt) if fmt in ("int32", "int64") else "int"
        if "number" in types:
            return "float64"
        if "boolean" in types:
            return "bool"
        if "string" in types:
            return "string"
        return "interface {}"
