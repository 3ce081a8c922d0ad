"""Find the line:column of a field path (``spec.template.spec.containers[0].imagee``) in a
composed YAML node tree.

Only called when a document has a problem: the good path never pays for it. The path is matched
against the real keys of each mapping (the longest key that fits wins), so keys containing dots
(``app.kubernetes.io/name``) are found too. When the path leaves the document (a required field
that is missing), the deepest node reached is the answer. Callers: :mod:`gitkube.manifests.blob`.
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["locate"]

_INDEX = re.compile(r"\[(\d+)\]")


def _child(node: MappingNode, rest: str) -> tuple[int, Node, Node] | None:
    """The (length, key node, value node) of the longest key that ``rest`` starts with."""
    best: tuple[int, Node, Node] | None = None
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            continue
        key = str(key_node.value)
        if rest.startswith(key) and (len(rest) == len(key) or rest[len(key)] in ".[") and (
                best is None or len(key) > best[0]):
            best = (len(key), key_node, value_node)
    return best


def locate(root: Node, path: str) -> tuple[int, int]:
    """1-based (line, column) of the deepest node of ``path`` found below ``root``."""
    mark = root.start_mark
    node = root
    rest = path
    while rest:
        if rest.startswith("["):
            match = _INDEX.match(rest)
            if match is None or not isinstance(node, SequenceNode) or int(match.group(1)) >= len(node.value):
                break
            node = node.value[int(match.group(1))]
            mark = node.start_mark
            rest = rest[match.end():]
        elif isinstance(node, MappingNode):
            found = _child(node, rest)
            if found is None:
                break
            length, key_node, node = found
            mark = key_node.start_mark
            rest = rest[length:]
        else:
            break
        if rest.startswith("."):
            rest = rest[1:]
    return mark.line + 1, mark.column + 1
