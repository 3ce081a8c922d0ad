"""Field sets and their FieldsV1 encoding, as Kubernetes' structured-merge-diff defines them.

A field set is the set of paths one field manager owns in an object. A path is a tuple of path
elements:

- ``("f", "spec")``: a struct field or a map key (``f:spec`` in FieldsV1),
- ``("k", (("name", '"web"'),))``: an item of a list-map, named by its key fields; key names are
  sorted and each value is kept as compact JSON (``k:{"name":"web"}``),
- ``("v", '"example.com/fin"')``: an item of a set list, by its JSON value (``v:"example.com/fin"``),
- ``("i", 3)``: an item of a list by position (``i:3``).

:class:`FieldSet` is a trie: ``members`` are the elements owned at this level and ``children`` the
sub-sets below an element. An element that is both a member and has children is written with a
``"."`` key in FieldsV1: ``{"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{}}}``.

Set algebra follows structured-merge-diff: ``difference`` is not recursive (removing ``a`` keeps
``a.b``), ``recursive_difference`` drops whole subtrees. Callers: :mod:`gitkube.api.typed` (object walks),
``apply`` and ``apply_update`` (managedFields).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

__all__ = [
    "FieldSet",
    "Path",
    "PathElement",
    "canonical_json",
    "field_pe",
    "index_pe",
    "key_pe",
    "path_string",
    "pe_string",
    "value_pe",
]

PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical_json(value: Any) -> str:
    """Compact JSON as Go writes it: integral floats as ints, ``<>&`` escaped, UTF-8 kept."""
    text = json.dumps(_normalize(value), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def field_pe(name: str) -> PathElement:
    return ("f", name)


def key_pe(keys: dict[str, Any]) -> PathElement:
    return ("k", tuple(sorted((k, canonical_json(v)) for k, v in keys.items())))


def value_pe(value: Any) -> PathElement:
    return ("v", canonical_json(value))


def index_pe(index: int) -> PathElement:
    return ("i", index)


def _sort_key(pe: PathElement) -> tuple[int, Any]:
    kind, data = pe
    return (_RANK.get(kind, 9), data)


def pe_string(pe: PathElement) -> str:
    """The path element as Kubernetes prints it in conflicts: ``.spec``, ``[name="web"]``, ``[="x"]``."""
    kind, data = pe
    if kind == "f":
        return f".{data}"
    if kind == "k":
        return "[" + ",".join(f"{name}={value}" for name, value in data) + "]"
    if kind == "v":
        return f"[={data}]"
    return f"[{data}]"


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image``."""
    return "".join(pe_string(pe) for pe in path)


def _serialize_pe(pe: PathElement) -> str:
    kind, data = pe
    if kind == "f":
        return f"f:{data}"
    if kind == "k":
        return "k:{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in data) + "}"
    if kind == "v":
        return f"v:{data}"
    return f"i:{data}"


def _deserialize_pe(text: str) -> PathElement | None:
    """Parse one FieldsV1 key; None for prefixes a later Kubernetes may add (they are ignored)."""
    prefix, sep, rest = text.partition(":")
    if not sep:
        raise ValueError(f"invalid path element {text!r}")
    if prefix == "f":
        return ("f", rest)
    if prefix == "k":
        keys = json.loads(rest)
        if not isinstance(keys, dict):
            raise ValueError(f"invalid key path element {text!r}")
        return key_pe(keys)
    if prefix == "v":
        return value_pe(json.loads(rest))
    if prefix == "i":
        return ("i", int(rest))
    return None


class FieldSet:
    """A set of field paths, kept as a trie."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    # -- construction -------------------------------------------------------------------

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Path) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: c.copy() for pe, c in self.children.items()}
        return out

    # -- queries ------------------------------------------------------------------------

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def __bool__(self) -> bool:
        return not self.empty()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return sorted(self.paths(), key=_path_key) == sorted(other.paths(), key=_path_key)

    def __hash__(self) -> int:  # pragma: no cover - sets are mutable, never hashed
        raise TypeError("FieldSet is unhashable")

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return node is not None and bool(path) and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        """The sub-set below one element (empty if none)."""
        return self.children.get(pe) or FieldSet()

    def paths(self) -> Iterator[Path]:
        """Every path, Kubernetes' iteration order: members of a level first, then each child."""
        yield from self._paths(())

    def _paths(self, prefix: Path) -> Iterator[Path]:
        for pe in sorted(self.members, key=_sort_key):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=_sort_key):
            yield from self.children[pe]._paths((*prefix, pe))

    def __len__(self) -> int:
        return len(self.members) + sum(len(c) for c in self.children.values())

    # -- algebra ------------------------------------------------------------------------

    def union(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members | other.members
        for pe in self.children.keys() | other.children.keys():
            a, b = self.children.get(pe), other.children.get(pe)
            merged = a.union(b) if a is not None and b is not None else (a or b or FieldSet()).copy()
            if not merged.empty():
                out.children[pe] = merged
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe in self.children.keys() & other.children.keys():
            sub = self.children[pe].intersection(other.children[pe])
            if not sub.empty():
                out.children[pe] = sub
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of ``self`` that are not paths of ``other`` (children of removed members stay)."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            theirs = other.children.get(pe)
            sub = child.difference(theirs) if theirs is not None else child.copy()
            if not sub.empty():
                out.children[pe] = sub
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes everything below it."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            sub = child.recursive_difference(theirs) if theirs is not None else child.copy()
            if not sub.empty():
                out.children[pe] = sub
        return out

    # -- FieldsV1 -----------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 object (``{"f:spec":{"f:replicas":{}}}``), keys in Kubernetes' order."""
        out: dict[str, Any] = {}
        for pe in sorted(self.members | self.children.keys(), key=_sort_key):
            child = self.children.get(pe)
            if child is None or child.empty():
                out[_serialize_pe(pe)] = {}
                continue
            body: dict[str, Any] = {".": {}} if pe in self.members else {}
            body.update(child.to_fields_v1())
            out[_serialize_pe(pe)] = body
        return out

    @classmethod
    def from_fields_v1(cls, data: Any) -> FieldSet:
        """Parse a FieldsV1 object; raises ValueError when it is malformed."""
        if not isinstance(data, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        out = cls()
        for key, sub in data.items():
            if key == ".":
                continue
            pe = _deserialize_pe(key)
            if pe is None:
                continue
            if not isinstance(sub, dict):
                raise ValueError(f"FieldsV1 value of {key!r} must be a JSON object")
            if not sub or "." in sub:
                out.members.add(pe)
            grand = cls.from_fields_v1(sub)
            if not grand.empty():
                out.children[pe] = grand
        return out


def _path_key(path: Path) -> tuple[tuple[int, Any], ...]:
    return tuple(_sort_key(pe) for pe in path)
