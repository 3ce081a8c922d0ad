"""YAML documents to plain data, the way kubectl reads them, fast.

:class:`ManifestLoader` is PyYAML's C loader (libyaml composes the node tree in C) with the
timestamp resolver removed: Kubernetes reads ``2024-01-01`` as a string in string fields, and a
``datetime`` is not JSON. YAML 1.1 scalars (``yes``/``no``/``on``/``off``, octal ``0755``) resolve
as kubectl's go-yaml v2 resolves them.

:func:`iter_documents` yields each document's root node and its value. The value is built by a
small recursive converter instead of PyYAML's generator-based constructor (about 2x faster on
manifests), which also does what sigs.k8s.io/yaml does on the way to JSON: non-string scalar keys
become strings (``80`` -> ``"80"``, ``on`` -> ``"true"``), a duplicate key is an error
(``mapping key "x" already defined at line N``), ``<<`` merge keys are honoured, and aliases are
expanded with a budget so an alias bomb fails fast instead of eating the daemon.

Every problem is a :class:`YamlProblem` with a 1-based line and column. Tabs used for
indentation get a friendly message. Callers: :mod:`gitkube.manifests.blob`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitkube.util import nesting

__all__ = ["ALIAS_BUDGET", "ManifestLoader", "YamlProblem", "iter_documents"]

ALIAS_BUDGET = 200_000  # nodes a document may copy through aliases (an alias bomb needs millions)

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_MAP = _TAG + "map"
_SEQ = _TAG + "seq"
_MERGE = _TAG + "merge"
_TIMESTAMP = _TAG + "timestamp"


class ManifestLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """libyaml's parser and composer with YAML 1.1 resolution minus timestamps.

    ``resolve`` is PyYAML's ``BaseResolver.resolve`` without what manifests never use (path
    resolvers, wildcard resolvers) and without a list concatenation per scalar: libyaml calls it
    for every node, so it is a fifth of the parse time."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


class YamlProblem(Exception):
    """A YAML problem at a 1-based line and column."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line = line
        self.column = column
        self.message = message


_SAFE = SafeConstructor()


def _binary(node: ScalarNode) -> str:
    """``!!binary`` becomes the base64 text JSON would carry for a ``[]byte`` field."""
    text = "".join(str(node.value).split())
    try:
        base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise _problem(node, f"invalid base64 in !!binary value: {exc}") from None
    return text


_SCALARS: dict[str, Callable[[Any], Any]] = {
    _TAG + "int": _SAFE.construct_yaml_int,
    _TAG + "float": _SAFE.construct_yaml_float,
    _TAG + "bool": _SAFE.construct_yaml_bool,
    _TAG + "null": _SAFE.construct_yaml_null,
    _TAG + "binary": _binary,
    _TIMESTAMP: lambda node: node.value,
}


def _problem(node: Node, message: str) -> YamlProblem:
    mark = node.start_mark
    return YamlProblem(mark.line + 1, mark.column + 1, message)


def _key_text(value: Any) -> str:
    """sigs.k8s.io/yaml's spelling of a non-string key once it is a JSON object key."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


class _Converter:
    """Node tree -> plain data for one document; counts nodes copied through aliases."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.sizes: dict[int, int] = {}
        self.budget = ALIAS_BUDGET
        self.count = 0

    def value(self, node: Node) -> Any:
        tag = node.tag
        if tag == _STR:
            self.count += 1
            return node.value
        if tag == _MAP or tag == _SEQ:
            ident = id(node)
            if ident in self.seen:
                return self._alias(node, ident)
            self.seen.add(ident)
            start = self.count
            out: Any = self._mapping(node) if tag == _MAP else [self.value(item) for item in node.value]
            self.sizes[ident] = self.count - start
            return out
        self.count += 1
        construct = _SCALARS.get(tag)
        if construct is None or not isinstance(node, ScalarNode):
            raise _problem(node, f"unsupported YAML tag {tag.replace(_TAG, '!!')}")
        try:
            return construct(node)
        except (ValueError, TypeError) as exc:
            raise _problem(node, f"invalid {tag.replace(_TAG, '!!')} value {node.value!r}: {exc}") from None

    def _alias(self, node: Node, ident: int) -> Any:
        size = self.sizes.get(ident)
        if size is None:
            raise _problem(node, "recursive YAML alias")
        self.budget -= size
        if self.budget < 0:
            raise _problem(node, f"document expands YAML aliases to over {ALIAS_BUDGET} nodes")
        self.seen.discard(ident)  # convert again (a fresh copy), then mark it seen again
        try:
            return self.value(node)
        finally:
            self.seen.add(ident)

    def _mapping(self, node: Node) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(value_node, merged)
                continue
            if key_node.tag == _STR:
                key: Any = key_node.value
                self.count += 1
            elif isinstance(key_node, ScalarNode):
                key = _key_text(self.value(key_node))
            else:
                raise _problem(key_node, "a mapping key must be a scalar")
            if key in out:
                raise _problem(key_node, f'mapping key "{key}" already defined at line {lines[key]}')
            lines[key] = key_node.start_mark.line + 1
            out[key] = self.value(value_node)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: Node, into: dict[Any, Any]) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: earlier sources win, explicit keys win over all."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _problem(source, "a merge key (<<) needs a mapping or a list of mappings")
            value = self.value(source)
            for key, item in value.items():
                into.setdefault(key, item)


def _friendly(exc: yaml.MarkedYAMLError, text: bytes) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return YamlProblem(1, 1, str(exc.problem or exc))
    message = str(exc.problem or "invalid YAML")
    lines = text.decode("utf-8", "replace").splitlines()
    if mark.line < len(lines):
        line = lines[mark.line]
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        at = line[mark.column] if mark.column < len(line) else ""
        if "\t" in indent or at == "\t":
            message = "tabs are not allowed for indentation in YAML"
    if exc.context and message == str(exc.problem) and exc.context_mark is not None:
        message = f"{message} ({exc.context} at line {exc.context_mark.line + 1})"
    return YamlProblem(mark.line + 1, mark.column + 1, message)


def iter_documents(data: bytes) -> Iterator[tuple[int, Node, Any]]:
    """Each document of ``data`` as (index, root node, value); empty documents are skipped
    (index still counts them). Raises :class:`YamlProblem` at the first syntax error."""
    try:
        nesting.check_yaml_depth(data)  # libyaml's composer recurses in C: refuse what would overflow it
    except nesting.NestingError as exc:
        raise YamlProblem(exc.line or 1, exc.column or 1, exc.message) from None
    loader = ManifestLoader(data)
    try:
        index = 0
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                raise _friendly(exc, data) from None
            except yaml.YAMLError as exc:
                raise YamlProblem(1, 1, str(exc)) from None
            try:
                value = _Converter().value(node) if node is not None else None
            except RecursionError:  # aliases of deep nodes inside deep nodes
                mark = node.start_mark
                raise YamlProblem(mark.line + 1, mark.column + 1,
                                  f"nested more than {nesting.MAX_DEPTH} levels deep") from None
            if value is not None:
                yield index, node, value
            index += 1
    finally:
        loader.dispose()
