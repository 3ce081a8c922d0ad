"""One blob's YAML to its validated objects: the unit the parse cache stores.

:func:`parse_blob` turns the bytes of one manifest file into an :data:`Entry`: the objects it
defines (``kind: List`` and any ``*List`` with ``items`` expanded, each item at its own line) and
every problem found, all positions relative to the file. An entry holds only plain data (tuples,
lists, dicts, strings, numbers) so it can be marshalled into the parse cache, and nothing that
depends on the file's name or the load options, so the same blob under another name or with
another default namespace reuses it. :func:`format_entry` puts the file name back.

Positions: libyaml composes every document's node tree anyway, so the node is at hand while the
document is validated; only documents with a problem walk it for a field's line:column.
Callers: :func:`gitkube.manifests.load` (directly, or through :mod:`gitkube.manifests.pool`).
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitkube.manifests.positions import locate
from gitkube.manifests.validate import check_object
from gitkube.manifests.yamlparse import YamlProblem, iter_documents

__all__ = ["NOT_A_TEXT_FILE", "NOT_AN_OBJECT", "Entry", "is_text", "parse_blob"]

# (objects as (obj, line, column, doc index), problems as (line, column, message))
Entry = tuple[list[tuple[dict[str, Any], int, int, int]], list[tuple[int, int, str]]]

NOT_AN_OBJECT = "expected a Kubernetes object (a mapping with apiVersion and kind)"
NOT_A_TEXT_FILE = "not a text file"


def is_text(data: bytes) -> bool:
    """No NUL byte in the first 8 KiB and valid UTF-8 throughout."""
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _items(node: Node, value: dict[str, Any]) -> list[tuple[Node, Any]] | None:
    """The items of a ``*List`` document with their nodes, or None if it is not a list."""
    kind = value.get("kind")
    items = value.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        return None
    nodes: list[Node] = []
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "items" and isinstance(value_node, SequenceNode):
                nodes = list(value_node.value)
    if len(nodes) != len(items):
        nodes = [node] * len(items)
    return list(zip(nodes, items, strict=True))


def _objects(node: Node, value: Any, depth: int = 0) -> list[tuple[Node, Any]]:
    if isinstance(value, dict) and depth < 4:
        items = _items(node, value)
        if items is not None:
            return [pair for item_node, item in items for pair in _objects(item_node, item, depth + 1)]
    return [(node, value)]


def parse_blob(data: bytes) -> Entry:
    """Parse and validate one file's content. Never raises for bad input: problems are data."""
    objects: list[tuple[dict[str, Any], int, int, int]] = []
    problems: list[tuple[int, int, str]] = []
    if not is_text(data):
        return objects, [(0, 0, NOT_A_TEXT_FILE)]
    try:
        for index, root, value in iter_documents(data):
            for node, obj in _objects(root, value):
                line, column = node.start_mark.line + 1, node.start_mark.column + 1
                if not isinstance(obj, dict):
                    problems.append((line, column, NOT_AN_OBJECT))
                    continue
                found = check_object(obj)
                if found:
                    for path, message in found:
                        at_line, at_column = locate(node, path)
                        problems.append((at_line, at_column, message))
                    continue
                objects.append((obj, line, column, index))
    except YamlProblem as problem:
        problems.append((problem.line, problem.column, problem.message))
    return objects, problems
