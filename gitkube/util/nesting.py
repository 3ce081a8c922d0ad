"""Nesting and size guards for untrusted YAML and JSON, checked before the real parse.

libyaml's composer (PyYAML's ``CSafeLoader`` and ruamel.yaml's C loader alike) recurses in C
once per nesting level: ``[[[[...]]]]`` or ``- - - - x`` a hundred thousand levels deep
overflows the C stack and kills the process with SIGSEGV, and a few hundred levels already
overflow Python's recursion limit in the converters after it. Kubernetes objects nest a few
dozen levels at most, so anything deeper than :data:`MAX_DEPTH` is refused up front.

- :func:`check_yaml_depth` scans the bytes first (bracket count plus twice the longest line
  bound the depth from above, at C speed); only text that might be too deep goes through
  libyaml's *event* parser, which is iterative, and that stops at the first level too many.
- :func:`check_value` walks already-parsed data without recursion and refuses more than
  :data:`MAX_DEPTH` levels or more than :data:`MAX_NODES` nodes (what an alias bomb expands to).

Callers: ``gitkube.manifests.yamlparse`` (every manifest file) and ``gitkube.apiserver.codec``
(every request body). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "MAX_NODES", "NestingError", "check_value", "check_yaml_depth"]

MAX_DEPTH = 100
"""Deepest nesting of collections accepted (Kubernetes objects use a few dozen levels)."""

MAX_NODES = 1_000_000
"""Most nodes one parsed document may hold (a 3 MiB body of one-character items has fewer)."""


class NestingError(ValueError):
    """Data nested deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES`.
    ``line`` and ``column`` are 1-based when known (YAML), else 0."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _might_be_deep(data: bytes, limit: int) -> bool:
    """An upper bound on the nesting depth is under ``limit``: flow levels need a bracket each,
    block levels need at least one more column every second level."""
    brackets = data.count(b"[") + data.count(b"{")
    if brackets >= limit:
        return True
    longest = max(map(len, data.split(b"\n"))) if data else 0
    return brackets + 2 * longest + 2 >= limit


def check_yaml_depth(data: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`NestingError` if any document of ``data`` nests more than ``limit`` levels.
    Syntax errors are left for the real parse to report."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _might_be_deep(raw, limit):
        return
    depth = 0
    try:
        for event in yaml.parse(raw, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    mark = event.start_mark
                    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
                    raise NestingError(f"nested more than {limit} levels deep", line, column)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return


def check_value(value: Any, limit: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise :class:`NestingError` if parsed data nests more than ``limit`` levels or holds more
    than ``max_nodes`` nodes (shared references count each time they are reached)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise NestingError(f"more than {max_nodes} values")
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            raise NestingError(f"nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)
