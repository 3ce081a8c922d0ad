"""Parse Go-style durations (``30s``, ``5m``, ``1h30m``, ``250ms``) as flags use them.

Pure; used by the CLI for ``--compaction-interval`` and, later, ``--poll-interval`` and
``--rollout-timeout``.
"""

from __future__ import annotations

import re

__all__ = ["parse"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse(text: str) -> float:
    """Seconds in ``text``; a bare number means seconds. ValueError names the bad input."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    pos, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise ValueError(f"invalid duration {text!r}: use forms like 30s, 5m, 1h30m or 250ms")
    return total
