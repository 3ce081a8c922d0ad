"""Small pure helpers over ObjectMeta: timestamps, names, uids, owner references.

Kubernetes writes times as RFC 3339 in UTC with second precision (``2026-11-26T23:00:00Z``)
and generates names from ``generateName`` plus five characters of a consonant-heavy
alphabet. Used by the API server's registry and, later, by controllers.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

__all__ = [
    "controller_ref",
    "format_time",
    "generate_name",
    "labels_of",
    "meta",
    "new_uid",
    "now",
    "parse_time",
]

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """The current time as Kubernetes writes it."""
    return format_time(dt.datetime.now(dt.UTC))


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset, fractional seconds allowed)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``prefix`` plus 5 random characters, as the API server's name generator does."""
    suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
    return f"{prefix[: 63 - 5]}{suffix}"


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj["metadata"]``, created if missing."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None
