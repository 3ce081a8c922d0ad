"""Key-space helpers shared by the store implementations.

- :func:`prefix_end`: the exclusive upper bound of a key prefix, so a prefix scan is the key
  range ``[prefix, prefix_end(prefix))`` (never ``LIKE``: ``/pods/`` must not match
  ``/podsx/``).
- :func:`encode_continue` / :func:`decode_continue`: the list ``continue`` token, URL-safe
  base64 of JSON ``{"v": "meta.k8s.io/v1", "rv": <list revision>, "start": <last key sent>}``
  as the Kubernetes etcd3 store writes it. Bad tokens raise ``BadRequest`` worded as Kubernetes
  words them ("continue key is not valid: ...").
- :func:`not_found` / :func:`already_exists` / :func:`conflict`: the store's errors, with the
  resource and name read back from a ``/registry/<group>/<plural>/[<ns>/]<name>`` key so the
  message and details match what kube-apiserver says (``pods "web" not found``). The API
  server may re-wrap them with the kind it knows.

Pure; called by ``gitkube.store.sqlite`` (and later the etcd store).
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass

from gitkube import errors

__all__ = [
    "CONTINUE_TOO_OLD",
    "ContinueToken",
    "already_exists",
    "conflict",
    "decode_continue",
    "encode_continue",
    "not_found",
    "prefix_end",
    "resource_of",
]

CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
_TOKEN_VERSION = "meta.k8s.io/v1"
_SURROGATES = range(0xD800, 0xE000)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``; ``None``
    when there is none (the empty prefix, or one made only of U+10FFFF).

    Code-point order equals UTF-8 byte order, so the bound is right for SQLite's BINARY
    collation and for etcd byte keys alike. Surrogates are skipped (they are not UTF-8).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < sys.maxunicode:
            nxt = last + 1
            if nxt in _SURROGATES:
                nxt = _SURROGATES.stop
            return "".join(chars) + chr(nxt)
    return None


@dataclass(frozen=True)
class ContinueToken:
    """A decoded continue token: the revision of the first page and the last key sent."""

    revision: int
    start: str


def encode_continue(revision: int, start: str) -> str:
    """The token for the page after the one that ended at key ``start``."""
    raw = json.dumps({"v": _TOKEN_VERSION, "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_continue(token: str, prefix: str) -> ContinueToken:
    """Parse a token from :func:`encode_continue`; ``BadRequest`` if it is malformed or was
    issued for another prefix."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise errors.BadRequest(f"continue key is not valid: {exc}") from exc
    if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
        raise errors.BadRequest("continue key is not valid: server does not recognize this encoded version")
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv <= 0:
        raise errors.BadRequest(
            f"continue key is not valid: incorrect encoded start resourceVersion (version {_TOKEN_VERSION})"
        )
    if not isinstance(start, str) or not start:
        raise errors.BadRequest(f"continue key is not valid: encoded start key empty (version {_TOKEN_VERSION})")
    if not start.startswith(prefix):
        raise errors.BadRequest("continue key is not valid: the start key is outside the listed collection")
    return ContinueToken(rv, start)


def resource_of(key: str) -> tuple[str, str, str]:
    """``(plural, group, name)`` of a ``/registry/...`` key; ``("", "", key)`` otherwise."""
    parts = key.split("/")
    if len(parts) >= 5 and parts[0] == "" and parts[1] == "registry" and parts[-1]:
        return parts[3], ("" if parts[2] == "core" else parts[2]), parts[-1]
    return "", "", key


def _subject(key: str) -> tuple[str, str, str, str]:
    plural, group, name = resource_of(key)
    if not plural:
        return f'key "{key}"', "", "", ""
    qualified = f"{plural}.{group}" if group else plural
    return f'{qualified} "{name}"', plural, group, name


def not_found(key: str) -> errors.NotFound:
    subject, plural, group, name = _subject(key)
    return errors.NotFound(f"{subject} not found", kind=plural, group=group, name=name)


def already_exists(key: str) -> errors.AlreadyExists:
    subject, plural, group, name = _subject(key)
    return errors.AlreadyExists(f"{subject} already exists", kind=plural, group=group, name=name)


def conflict(key: str) -> errors.Conflict:
    subject, plural, group, name = _subject(key)
    return errors.Conflict(
        f"Operation cannot be fulfilled on {subject}: the object has been modified; "
        "please apply your changes to the latest version and try again",
        kind=plural,
        group=group,
        name=name,
    )
