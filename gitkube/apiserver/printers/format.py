"""Formatting helpers shared by the printers: ages, timestamps, labels, selectors, containers.

``human_duration`` and ``short_human_duration`` are exact ports of
``k8s.io/apimachinery/pkg/util/duration`` (``5s``, ``3m20s``, ``4h``, ``2d3h``, ``12d``, ``3y45d``),
including its two-second tolerance for clock skew. ``translate_timestamp_since`` is the
printers' ``translateTimestampSince``: ``<unknown>`` for a missing time, else the human
duration from the timestamp to *now*. The label helpers port ``labels.FormatLabels``,
``metav1.LabelSelectorAsSelector(...).String()`` and ``metav1.FormatLabelSelector``;
``quantity_string`` is ``Quantity.String()`` through ``gitkube.api.quantity``.

Pure functions; called by the per-kind printer modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gitkube import errors
from gitkube.api import quantity, selectors

__all__ = [
    "age_since",
    "format_label_selector",
    "format_labels",
    "human_duration",
    "label_selector_string",
    "layout_container_cells",
    "parse_time",
    "quantity_string",
    "rfc3339",
    "short_human_duration",
    "translate_timestamp_since",
]

_NS_PER_SECOND = 1_000_000_000
_NS_PER_MINUTE = 60 * _NS_PER_SECOND
_NS_PER_HOUR = 60 * _NS_PER_MINUTE
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _nanoseconds(d: timedelta) -> int:
    return ((d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds) * 1_000


def _trunc_div(n: int, d: int) -> int:
    """Go's integer division: truncates toward zero (Python's ``//`` floors)."""
    q = abs(n) // d
    return q if n >= 0 else -q


def short_human_duration(d: timedelta) -> str:
    """Port of ``duration.ShortHumanDuration``: one unit only (``45s``, ``3m``, ``5h``, ``12d``, ``2y``)."""
    ns = _nanoseconds(d)
    seconds = _trunc_div(ns, _NS_PER_SECOND)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    minutes = ns // _NS_PER_MINUTE
    if minutes < 60:
        return f"{minutes}m"
    hours = ns // _NS_PER_HOUR
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(d: timedelta) -> str:
    """Port of ``duration.HumanDuration``: about two significant units (``3m20s``, ``2d3h``)."""
    ns = _nanoseconds(d)
    seconds = _trunc_div(ns, _NS_PER_SECOND)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = ns // _NS_PER_MINUTE
    if minutes < 10:
        s = (ns // _NS_PER_SECOND) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // _NS_PER_HOUR
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 ``metav1.Time``/``MicroTime`` as an aware datetime; None when absent or zero."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed == _GO_ZERO_TIME:
        return None
    return parsed


def age_since(when: datetime | None, now: datetime) -> str:
    """The human age of *when* at *now*; ``<unknown>`` when there is no time."""
    if when is None:
        return "<unknown>"
    return human_duration(now - when)


def translate_timestamp_since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: ``<unknown>`` when unset, else the human age at *now*."""
    return age_since(parse_time(value), now)


def rfc3339(value: Any) -> str:
    """``t.UTC().Format(time.RFC3339)``; an unset time prints as Go's zero time."""
    when = parse_time(value) or _GO_ZERO_TIME
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def quantity_string(value: Any) -> str:
    """``Quantity.String()``: the canonical form (``1000m`` -> ``1``); unparsable text as stored."""
    try:
        return quantity.canonical(value)
    except (quantity.QuantityError, TypeError):
        return str(value)


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """``labels.FormatLabels``: ``k=v`` pairs sorted by key, comma-joined; ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def label_selector_string(spec: Mapping[str, Any] | None) -> str:
    """``metav1.LabelSelectorAsSelector(spec).String()``; raises BadRequest on a bad operator.

    Requirements are ordered by key (``labels.Selector.Add`` sorts them) and set values are
    printed sorted. A nil and an empty selector both print as "".
    """
    parsed = selectors.from_label_selector_spec(spec)
    return ",".join(str(r) for r in sorted(parsed.requirements, key=lambda r: r.key))


def format_label_selector(spec: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: like the selector string, ``<none>`` when empty, ``<error>`` when invalid."""
    try:
        text = label_selector_string(spec)
    except errors.APIError:
        return "<error>"
    return text or "<none>"


def layout_container_cells(containers: Sequence[Mapping[str, Any]] | None) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, each comma-joined."""
    items = containers or []
    names = ",".join(str(c.get("name") or "") for c in items)
    images = ",".join(str(c.get("image") or "") for c in items)
    return names, images
