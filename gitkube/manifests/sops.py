"""SOPS-format YAML files (``*.sops.yaml``) with age recipients: decrypt them, and write them.

The format is the one the Go ``sops`` CLI reads and writes (checked against a file it wrote, in
``tests/unit/manifests/test_sops.py``):

- every document is a mapping; its ``sops`` key holds the metadata: ``age`` (a list of
  ``{recipient, enc}``, ``enc`` being the 32-byte data key as an armored age file for that
  recipient), ``lastmodified`` (RFC 3339), ``mac``, ``version`` and the selection options
  ``unencrypted_suffix`` / ``encrypted_suffix`` / ``unencrypted_regex`` / ``encrypted_regex`` /
  ``mac_only_encrypted``;
- a leaf value (string, int, float, bool) whose key path is selected for encryption is
  ``ENC[AES256_GCM,data:B64,iv:B64,tag:B64,type:str|int|float|bool|bytes|time]``: AES-256-GCM
  under the data key with a 32-byte IV and, as additional data, the names of the enclosing
  mapping keys joined and ended by ``:`` (list items add nothing); empty strings stay empty;
- the MAC is SHA-512 over every leaf's plaintext (all leaves, or only the encrypted ones with
  ``mac_only_encrypted``) in document order, booleans as ``True``/``False``, upper-case hex,
  itself encrypted under the data key with ``lastmodified`` as additional data.

Errors are :class:`~gitkube.errors.ManifestError` lines ``FILE: message``; a message names
key paths and recipients at most, never a value. :class:`Decryptor` is the hook
:func:`gitkube.manifests.load` calls for ``*.sops.yaml`` files.

Callers: the GitOps engine (through the loader hook) and ``gitkube seal``.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pyrage
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyrage import x25519

from gitkube.errors import ManifestError
from gitkube.util import nesting

__all__ = ["SOPS_SUFFIXES", "Decryptor", "decrypt", "decrypt_documents", "encrypt", "is_sops_file",
           "parse_yaml"]

SOPS_SUFFIXES = (".sops.yaml", ".sops.yml")
SOPS_VERSION = "3.9.0"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]$", re.S)
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """YAML as Go's yaml.v3 reads it for sops: timestamps stay strings, only true/false are booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Block style, key order kept, multi-line strings (the armored data keys) as ``|`` blocks."""


def _str_representer(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def is_sops_file(path: str) -> bool:
    """True for ``*.sops.yaml`` / ``*.sops.yml`` (any case)."""
    return path.lower().endswith(SOPS_SUFFIXES)


class _Error(Exception):
    """One problem with the file (its text never holds a value); becomes a ManifestError line."""


def _go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    return format(Decimal(repr(value)).normalize(), "f")


def _to_bytes(value: Any) -> bytes:
    """The bytes of a plaintext leaf as sops feeds the MAC (``sops.ToBytes``)."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return _go_float(value).encode()
    if isinstance(value, bytes):
        return value
    raise _Error(f"a value of type {type(value).__name__} cannot be encrypted")


class _Selection:
    """Which key paths are encrypted: sops' suffix and regex options, checked in its order."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.unencrypted_suffix = str(meta.get("unencrypted_suffix") or "")
        self.encrypted_suffix = str(meta.get("encrypted_suffix") or "")
        try:
            self.unencrypted_regex = re.compile(str(meta["unencrypted_regex"])) if meta.get("unencrypted_regex") else None
            self.encrypted_regex = re.compile(str(meta["encrypted_regex"])) if meta.get("encrypted_regex") else None
        except re.error as exc:
            raise _Error(f"sops metadata has an invalid regular expression: {exc}") from exc
        self.mac_only_encrypted = meta.get("mac_only_encrypted") is True

    def encrypted(self, path: list[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(self.unencrypted_regex.search(p) for p in path):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("unencrypted_suffix", "encrypted_suffix"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("unencrypted_regex", "encrypted_regex"):
            rx = getattr(self, name)
            if rx is not None:
                out[name] = rx.pattern
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        return out


Leaf = Callable[[Any, list[str]], Any]


def _walk(value: Any, path: list[str], leaf: Leaf) -> Any:
    """sops' tree walk: mappings extend the path, lists keep it, ``None`` is left alone."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Error(f"{':'.join(path + [str(key)])}: only string keys are supported")
            out[key] = _walk(item, path + [key], leaf)
        return out
    if isinstance(value, list):
        return [_walk(item, path, leaf) for item in value]
    if value is None:
        return None
    return leaf(value, path)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _encrypt_value(value: Any, key: bytes, additional: str) -> str:
    if isinstance(value, bool):
        kind, plain = "bool", b"true" if value else b"false"
    elif isinstance(value, str):
        if value == "":
            return ""
        kind, plain = "str", value.encode()
    elif isinstance(value, int):
        kind, plain = "int", str(value).encode()
    elif isinstance(value, float):
        kind, plain = "float", _go_float(value).encode()
    elif isinstance(value, bytes):
        if not value:
            return ""
        kind, plain = "bytes", value
    else:
        raise _Error(f"a value of type {type(value).__name__} cannot be encrypted")
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, plain, additional.encode())
    return f"ENC[AES256_GCM,data:{_b64(sealed[:-16])},iv:{_b64(iv)},tag:{_b64(sealed[-16:])},type:{kind}]"


def _decrypt_value(value: Any, key: bytes, additional: str, where: str) -> Any:
    if value == "":
        return ""
    match = _ENC.match(value) if isinstance(value, str) else None
    if match is None:
        raise _Error(f"{where}: the value is not encrypted although the file's settings say it must be")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
        plain = AESGCM(key).decrypt(iv, data + tag, additional.encode())
    except (ValueError, InvalidTag) as exc:
        raise _Error(f"{where}: the value does not decrypt (tampered with, or moved to another key)") from exc
    kind = match.group(4)
    try:
        if kind in ("str", "time"):
            return plain.decode()
        if kind == "int":
            return int(plain.decode())
        if kind == "float":
            return float(plain.decode())
        if kind == "bool":
            text = plain.decode()
            if text not in _GO_TRUE | _GO_FALSE:
                raise ValueError(kind)
            return text in _GO_TRUE
        if kind == "bytes":
            return plain
    except ValueError as exc:
        raise _Error(f"{where}: the decrypted value is not a valid {kind}") from exc
    raise _Error(f"{where}: unknown value type {kind!r}")


def _data_key(meta: dict[str, Any], identities: Sequence[x25519.Identity]) -> bytes:
    entries = meta.get("age")
    if not isinstance(entries, list) or not entries:
        raise _Error("the data key is not wrapped for any age recipient (gitkube decrypts age only)")
    recipients: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("enc"), str):
            raise _Error("sops metadata: an age entry has no 'enc' data key")
        recipients.append(str(entry.get("recipient", "?")))
        try:
            key: bytes = pyrage.decrypt(entry["enc"].encode(), list(identities))
        except Exception:  # pyrage.DecryptError: not for these identities, or damaged
            continue
        if len(key) != 32:
            raise _Error("the wrapped data key is not 32 bytes")
        return key
    ours = ", ".join(str(i.to_public()) for i in identities) or "none"
    raise _Error(f"encrypted for age recipient(s) {', '.join(recipients)}, not for this control plane's key "
                 f"({ours}), or the wrapped data key is damaged")


def _load_documents(content: bytes) -> list[Any]:
    try:
        nesting.check_yaml_depth(content)
    except nesting.NestingError as exc:
        raise _Error(f"not valid YAML at line {exc.line}, column {exc.column}: {exc.message}") from None
    try:
        docs = [doc for doc in yaml.load_all(content, Loader=_Loader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise _Error(f"not valid YAML{where}: {exc.problem or 'syntax error'} (corrupt or truncated?)") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _Error("not valid YAML (corrupt or truncated?)") from exc
    if not docs:
        raise _Error("empty file: no SOPS document in it")
    return docs


def parse_yaml(content: bytes) -> list[Any]:
    """The documents of a YAML file read as sops reads them (YAML 1.2 booleans, timestamps as
    strings); ``ValueError`` with a message that quotes no content."""
    try:
        return _load_documents(content)
    except _Error as exc:
        raise ValueError(str(exc)) from None


def decrypt_documents(name: str, content: bytes, identities: Sequence[x25519.Identity]) -> list[dict[str, Any]]:
    """The plaintext documents of a SOPS file, the MAC checked; ``ManifestError`` naming ``name``."""
    try:
        docs = _load_documents(content)
        metas = [d.get("sops") for d in docs if isinstance(d, dict)]
        meta = next((m for m in metas if isinstance(m, dict)), None)
        if meta is None or len(metas) != len(docs):
            raise _Error("no 'sops' metadata in every document: not a SOPS-encrypted file (corrupt or truncated?)")
        lastmodified, mac = meta.get("lastmodified"), meta.get("mac")
        if not isinstance(lastmodified, str) or not isinstance(mac, str) or not mac:
            raise _Error("sops metadata lacks 'lastmodified' or 'mac' (corrupt or truncated?)")
        selection = _Selection(meta)
        key = _data_key(meta, identities)
        digest = hashlib.sha512()

        def leaf(value: Any, path: list[str]) -> Any:
            encrypted = selection.encrypted(path)
            plain = _decrypt_value(value, key, ":".join(path) + ":", ":".join(path)) if encrypted else value
            if encrypted or not selection.mac_only_encrypted:
                digest.update(_to_bytes(plain))
            return plain

        out = [_walk({k: v for k, v in doc.items() if k != "sops"}, [], leaf) for doc in docs]
        stored_mac = _decrypt_value(mac, key, lastmodified, "sops.mac")
        if stored_mac != digest.hexdigest().upper():
            raise _Error("MAC mismatch: the file was changed after it was encrypted (tampered?)")
        return out
    except _Error as exc:
        raise ManifestError([f"{name}: {exc}"]) from None


def decrypt(name: str, content: bytes, identities: Sequence[x25519.Identity]) -> bytes:
    """The plaintext YAML (documents in order, ``sops`` keys removed) of a SOPS file."""
    docs = decrypt_documents(name, content, identities)
    text: str = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text.encode()


def encrypt(documents: Sequence[dict[str, Any]], recipients: Sequence[str | x25519.Recipient], *,
            encrypted_regex: str | None = None, unencrypted_regex: str | None = None,
            encrypted_suffix: str | None = None, unencrypted_suffix: str | None = None,
            mac_only_encrypted: bool = False, now: datetime.datetime | None = None) -> bytes:
    """A SOPS YAML file of ``documents`` for the age ``recipients`` (each gets its own wrapped
    data key). Without any selection option, every value is encrypted except under keys ending
    ``_unencrypted``, as ``sops`` does. Raises ``ValueError`` for no recipient or a bad one."""
    if not recipients:
        raise ValueError("at least one age recipient is needed")
    parsed = [r if isinstance(r, x25519.Recipient) else x25519.Recipient.from_str(r) for r in recipients]
    options: dict[str, Any] = {
        "encrypted_regex": encrypted_regex, "unencrypted_regex": unencrypted_regex,
        "encrypted_suffix": encrypted_suffix, "unencrypted_suffix": unencrypted_suffix,
        "mac_only_encrypted": mac_only_encrypted,
    }
    if not any(v for k, v in options.items() if k != "mac_only_encrypted"):
        options["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX
    try:
        selection = _Selection(options)
    except _Error as exc:
        raise ValueError(str(exc)) from None
    key = os.urandom(32)
    digest = hashlib.sha512()

    def leaf(value: Any, path: list[str]) -> Any:
        encrypted = selection.encrypted(path)
        if encrypted or not selection.mac_only_encrypted:
            digest.update(_to_bytes(value))
        return _encrypt_value(value, key, ":".join(path) + ":") if encrypted else value

    try:
        out = [_walk({k: v for k, v in doc.items() if k != "sops"}, [], leaf) for doc in documents]
    except _Error as exc:
        raise ValueError(str(exc)) from None
    stamp = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC).replace(microsecond=0)
    lastmodified = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta: dict[str, Any] = {
        "age": [{"recipient": str(r), "enc": pyrage.encrypt(key, [r], armored=True).decode()} for r in parsed],
        "lastmodified": lastmodified,
        "mac": _encrypt_value(digest.hexdigest().upper(), key, lastmodified),
        **selection.metadata(),
        "version": SOPS_VERSION,
    }
    for doc in out:
        doc["sops"] = copy.deepcopy(meta)  # no YAML anchors: each document carries its own copy
    text: str = yaml.dump_all(out, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text.encode()


class Decryptor:
    """The loader's hook: ``decryptor(file_name, content) -> plaintext YAML`` with these identities."""

    def __init__(self, identities: Sequence[x25519.Identity]) -> None:
        self.identities = list(identities)

    def __call__(self, name: str, content: bytes) -> bytes:
        return decrypt(name, content, self.identities)
