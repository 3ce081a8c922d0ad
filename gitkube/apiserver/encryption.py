"""Secrets encrypted at rest: a :class:`~gitkube.store.base.Store` wrapper, AES-GCM, as
Kubernetes' EncryptionConfiguration ``aesgcm`` provider does.

Why a store wrapper: every path an object takes to and from the store (the registry, deletion,
the garbage collector, status subresources, watch streams) goes through the one ``Store``
object the API server is given, so wrapping it encrypts all of them with no change elsewhere,
and the API above it only ever sees plaintext (``kubectl get secret`` works as before for the
admin token). Only keys under ``/registry/core/secrets/`` are touched.

What is encrypted: a Secret's ``data`` and ``stringData`` and its
``kubectl.kubernetes.io/last-applied-configuration`` annotation (which kubectl fills with the
whole Secret); they are replaced by ``data: "k8s:enc:aesgcm:v1:key1:<base64(nonce+ciphertext)>"``
with the storage key as additional data, so a row moved to another key does not decrypt. The
rest (metadata, type) stays in the clear: label and field selectors keep working in the store.
The 12-byte nonce is derived (HMAC-SHA256 of key path and plaintext under the key) instead of
random, so equal content gives equal stored text and the store's "an identical write is no
change" rule still holds; a nonce repeats only for the very same plaintext at the same key.
Rows written before encryption was enabled are read as they are and encrypted on their next write.

The key: 32 random bytes, base64, in ``DATA/pki/encryption.key`` (0600), made on first start.
Callers: the composition root wraps the store it gives :class:`~gitkube.apiserver.server.APIServer`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitkube import errors
from gitkube.api import selectors
from gitkube.apiserver.pki import write_private
from gitkube.store import base
from gitkube.store.watchhub import Change, ChangeFeed

__all__ = ["KEY_FILE", "PREFIX", "SECRETS_PREFIX", "EncryptedStore", "SecretCipher", "ensure_key"]

KEY_FILE = Path("pki") / "encryption.key"
PREFIX = "k8s:enc:aesgcm:v1:key1:"
SECRETS_PREFIX = "/registry/core/secrets/"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_FIELDS = ("data", "stringData")


def ensure_key(data_dir: Path) -> bytes:
    """The 32-byte key in ``DATA/pki/encryption.key``, made (0600) on first use."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        write_private(path, base64.b64encode(os.urandom(32)) + b"\n")
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise errors.ConfigError(f"{path}: not a base64 AES key") from exc
    if len(key) != 32:
        raise errors.ConfigError(f"{path}: the key must be 32 bytes (AES-256), not {len(key)}")
    return key


def _secret_key(key: str) -> bool:
    return key.startswith(SECRETS_PREFIX)


class SecretCipher:
    """Encrypts and decrypts the secret part of stored Secret objects (see the module doc)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the at-rest encryption key must be 32 bytes")
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"gitkube at-rest nonce\0" + key).digest()

    def seal(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as stored: a copy with its secret fields in one envelope (``obj`` untouched)."""
        secret: dict[str, Any] = {f: obj[f] for f in _FIELDS if f in obj}
        meta = obj.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            secret["lastApplied"] = annotations[LAST_APPLIED]
        if not secret:
            return obj
        out = {k: v for k, v in obj.items() if k not in _FIELDS}
        if "lastApplied" in secret:
            assert isinstance(meta, dict) and isinstance(annotations, dict)
            rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            out["metadata"] = {**meta, "annotations": rest} if rest else {
                k: v for k, v in meta.items() if k != "annotations"}
        plain = json.dumps(secret, sort_keys=True, separators=(",", ":")).encode()
        nonce = hmac.new(self._mac_key, key.encode() + b"\0" + plain, hashlib.sha256).digest()[:12]
        sealed = nonce + self._aead.encrypt(nonce, plain, key.encode())
        out["data"] = PREFIX + base64.b64encode(sealed).decode()
        return out

    def open(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The plaintext object of a stored one (unencrypted rows come back as they are)."""
        envelope = obj.get("data")
        if not isinstance(envelope, str):
            return obj
        if not envelope.startswith(PREFIX):
            raise errors.StoreError(f"the Secret stored at {key!r} is encrypted with an unknown provider or key")
        try:
            raw = base64.b64decode(envelope[len(PREFIX):], validate=True)
            secret = json.loads(self._aead.decrypt(raw[:12], raw[12:], key.encode()))
        except (ValueError, InvalidTag) as exc:
            raise errors.StoreError(
                f"the Secret stored at {key!r} does not decrypt with {KEY_FILE} (another key, or damaged)"
            ) from exc
        out = {k: v for k, v in obj.items() if k != "data"}
        for field in _FIELDS:
            if field in secret:
                out[field] = secret[field]
        if "lastApplied" in secret:
            meta = dict(out.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: secret["lastApplied"]}
            out["metadata"] = meta
        return out

    def open_text(self, key: str, text: str | None) -> str | None:
        """A stored JSON text, decrypted (for change records)."""
        if text is None or not _secret_key(key):
            return text
        return json.dumps(self.open(key, json.loads(text)), separators=(",", ":"))


class _DecryptingFeed:
    """A :class:`~gitkube.store.watchhub.ChangeFeed` whose Secret changes come out decrypted."""

    def __init__(self, feed: ChangeFeed, cipher: SecretCipher) -> None:
        self._feed = feed
        self._cipher = cipher

    def __aiter__(self) -> _DecryptingFeed:
        return self

    def ready(self) -> bool:
        return self._feed.ready()

    async def __anext__(self) -> Change:
        change = await self._feed.__anext__()
        if not _secret_key(change.key):
            return change
        value = self._cipher.open_text(change.key, change.value)
        assert value is not None
        return Change(change.type, change.key, value, self._cipher.open_text(change.key, change.prev_value),
                      change.revision)

    async def aclose(self) -> None:
        await self._feed.aclose()


class EncryptedStore(base.Store):
    """``inner`` with Secrets encrypted at rest; everything else passes through unchanged."""

    def __init__(self, inner: base.Store, key: bytes) -> None:
        self.inner = inner
        self.cipher = SecretCipher(key)
        if hasattr(inner, "watch_changes"):  # offered only when the inner store has the fast path
            self.watch_changes = self._watch_changes

    def __getattr__(self, name: str) -> Any:  # the inner store's extras (compact_keep, path...)
        if name == "watch_changes" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _in(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.cipher.seal(key, obj) if _secret_key(key) else obj

    def _out(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.cipher.open(key, obj) if _secret_key(key) else obj

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self._out(key, await self.inner.create(key, self._in(key, obj)))

    async def get(self, key: str) -> dict[str, Any]:
        return self._out(key, await self.inner.get(key))

    async def update(self, key: str, obj: dict[str, Any], *, expected_rv: str | None = None) -> dict[str, Any]:
        return self._out(key, await self.inner.update(key, self._in(key, obj), expected_rv=expected_rv))

    async def delete(self, key: str, *, expected_rv: str | None = None) -> dict[str, Any]:
        return self._out(key, await self.inner.delete(key, expected_rv=expected_rv))

    async def list(self, prefix: str, *, label_selector: selectors.LabelSelector | None = None,
                   field_selector: selectors.FieldSelector | None = None, limit: int = 0,
                   continue_token: str = "") -> base.ListResult:
        result = await self.inner.list(prefix, label_selector=label_selector, field_selector=field_selector,
                                       limit=limit, continue_token=continue_token)
        if SECRETS_PREFIX.startswith(prefix) or prefix.startswith(SECRETS_PREFIX):
            result.items = [self.cipher.open(f"{SECRETS_PREFIX}{_ns_name(o)}", o)
                            if _is_sealed(o) else o for o in result.items]
        return result

    async def watch(self, prefix: str, since: int) -> AsyncIterator[base.WatchEvent]:
        async for event in self.inner.watch(prefix, since):
            if _secret_key(event.key):
                prev = self.cipher.open(event.key, event.prev_object) if event.prev_object is not None else None
                event = base.WatchEvent(event.type, event.key, self.cipher.open(event.key, event.object), prev,
                                        event.revision)
            yield event

    def _watch_changes(self, prefix: str, since: int) -> Any:
        """The inner store's shared change feed, Secret changes decrypted (see ``watch``)."""
        return _DecryptingFeed(self.inner.watch_changes(prefix, since), self.cipher)  # type: ignore[attr-defined]

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def compacted_revision(self) -> int:
        return await self.inner.compacted_revision()


def _is_sealed(obj: dict[str, Any]) -> bool:
    data = obj.get("data")
    return obj.get("kind") == "Secret" and isinstance(data, str) and data.startswith(PREFIX)


def _ns_name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
