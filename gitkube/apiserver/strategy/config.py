"""Namespace, ConfigMap, Secret and ServiceAccount strategies.

- Namespace: ``spec.finalizers`` defaults to ``["kubernetes"]``, ``status.phase`` to ``Active``
  and the ``kubernetes.io/metadata.name`` label to the name; finalizer names are checked.
- ConfigMap: keys are config keys, ``data`` and ``binaryData`` share no key, the total stays
  within 1 MiB, ``binaryData`` values are base64; ``immutable: true`` freezes the data and
  cannot be unset.
- Secret: ``type`` defaults to ``Opaque``; ``stringData`` is merged into ``data`` (base64) as
  the v1 conversion does; ``data`` values must be base64 and total at most 1 MiB; the
  built-in types' required keys are checked; ``type`` is immutable, and so is everything
  once ``immutable: true`` is set.
- ServiceAccount: metadata only.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, ensure_dict, get_dict, get_list, get_str
from gitkube.errors import Cause

__all__ = [
    "CONFIGMAP",
    "MAX_SECRET_SIZE",
    "NAMESPACE",
    "SECRET",
    "SERVICEACCOUNT",
    "decode_base64",
    "default_namespace",
    "default_secret",
    "validate_configmap",
    "validate_namespace",
    "validate_secret",
]

MAX_SECRET_SIZE = 1024 * 1024
_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/=\r\n]")
_REDACTED = "<secret contents redacted>"


def decode_base64(value: str) -> tuple[bytes | None, str]:
    """Decode like Go's ``base64.StdEncoding`` (as ``[]byte`` JSON fields are); on failure
    return ``(None, "illegal base64 data at input byte N")``."""
    for i, ch in enumerate(value):
        if not _B64_ALPHABET.match(ch):
            return None, f"illegal base64 data at input byte {i}"
    text = value.replace("\r", "").replace("\n", "")
    try:
        if len(text) % 4:
            raise ValueError("truncated quantum")
        return base64.b64decode(text, validate=True), ""
    except (binascii.Error, ValueError):
        pad = text.find("=")
        at = pad if 0 <= pad < len(text) - 2 else (len(text) // 4) * 4
        return None, f"illegal base64 data at input byte {at}"


# -- Namespace -------------------------------------------------------------------------


def default_namespace(obj: dict[str, Any]) -> None:
    meta = ensure_dict(obj, "metadata")
    name = get_str(meta, "name")
    if name:
        ensure_dict(meta, "labels")["kubernetes.io/metadata.name"] = name
    spec = ensure_dict(obj, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = ensure_dict(obj, "status")
    if not get_str(status, "phase"):
        status["phase"] = "Active"


def validate_namespace(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for finalizer in get_list(get_dict(obj, "spec"), "finalizers"):
        if not isinstance(finalizer, str):
            continue
        out += [c.invalid("spec.finalizers", finalizer, m) for m in names.is_qualified_name(finalizer)]
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            out.append(c.invalid("spec.finalizers", finalizer,
                                 "name is neither a standard finalizer name nor is it fully qualified"))
    phase = get_str(get_dict(obj, "status"), "phase")
    if phase and phase not in ("Active", "Terminating"):
        out.append(c.not_supported("status.phase", phase, ("Active", "Terminating")))
    return out


# -- ConfigMap ---------------------------------------------------------------------------


def _immutable_rules(obj: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...]) -> list[Cause]:
    out: list[Cause] = []
    if old.get("immutable") is True:
        if obj.get("immutable") is not True:
            out.append(c.forbidden("immutable", "field is immutable when `immutable` is set"))
        for name in fields:
            if (obj.get(name) or {}) != (old.get(name) or {}):
                out.append(c.forbidden(name, "field is immutable when `immutable` is set"))
    return out


def validate_configmap(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is not None:
        out += _immutable_rules(obj, old, ("data", "binaryData"))
    data = get_dict(obj, "data")
    binary = get_dict(obj, "binaryData")
    total = 0
    for key, value in data.items():
        out += [c.invalid(c.key("data", key), key, m) for m in names.is_config_map_key(key)]
        if key in binary:
            out.append(c.invalid(c.key("data", key), key, "duplicate of key present in binaryData"))
        total += len(value.encode()) if isinstance(value, str) else 0
    for key, value in binary.items():
        out += [c.invalid(c.key("binaryData", key), key, m) for m in names.is_config_map_key(key)]
        if isinstance(value, str):
            decoded, error = decode_base64(value)
            if decoded is None:
                out.append(c.invalid(c.key("binaryData", key), value if len(value) <= 64 else value[:64], error))
            else:
                total += len(decoded)
    if total > MAX_SECRET_SIZE:
        out.append(c.too_long("", MAX_SECRET_SIZE))
    return out


# -- Secret ------------------------------------------------------------------------------


def default_secret(obj: dict[str, Any]) -> None:
    if not get_str(obj, "type"):
        obj["type"] = "Opaque"
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        data = ensure_dict(obj, "data")
        for key, value in string_data.items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()
        del obj["stringData"]


def _require_keys(data: dict[str, Any], keys: tuple[str, ...]) -> list[Cause]:
    return [c.required(c.key("data", k)) for k in keys if k not in data]


def _json_key(data: dict[str, Any], key: str, decoded: dict[str, bytes]) -> list[Cause]:
    if key not in data:
        return [c.required(c.key("data", key))]
    raw = decoded.get(key)
    if raw is None:
        return []
    try:
        parsed = json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        return [c.invalid(c.key("data", key), _REDACTED, str(exc))]
    if not isinstance(parsed, dict):
        return [c.invalid(c.key("data", key), _REDACTED,
                          f"json: cannot unmarshal {type(parsed).__name__} into Go value of type map[string]interface {{}}")]
    return []


def validate_secret(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is not None:
        if get_str(obj, "type") != get_str(old, "type"):
            out.append(c.immutable("type", get_str(obj, "type")))
        out += _immutable_rules(obj, old, ("data",))
    data = get_dict(obj, "data")
    decoded: dict[str, bytes] = {}
    total = 0
    for key, value in data.items():
        out += [c.invalid(c.key("data", key), key, m) for m in names.is_config_map_key(key)]
        if isinstance(value, str):
            raw, error = decode_base64(value)
            if raw is None:
                out.append(c.invalid(c.key("data", key), _REDACTED, error))
            else:
                decoded[key] = raw
                total += len(raw)
    if total > MAX_SECRET_SIZE:
        out.append(c.too_long("data", MAX_SECRET_SIZE))
    kind = get_str(obj, "type")
    if kind == "kubernetes.io/service-account-token":
        if not get_str(get_dict(get_dict(obj, "metadata"), "annotations"), "kubernetes.io/service-account.name"):
            out.append(c.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind == "kubernetes.io/dockercfg":
        out += _json_key(data, ".dockercfg", decoded)
    elif kind == "kubernetes.io/dockerconfigjson":
        out += _json_key(data, ".dockerconfigjson", decoded)
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            out += _require_keys(data, ("username", "password"))
    elif kind == "kubernetes.io/ssh-auth":
        if not decoded.get("ssh-privatekey"):
            out.append(c.required("data[ssh-privatekey]"))
    elif kind == "kubernetes.io/tls":
        out += _require_keys(data, ("tls.crt", "tls.key"))
    return out


def _no_defaults(obj: dict[str, Any]) -> None:
    return None


def _no_validation(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return []


NAMESPACE = KindStrategy(name_fn=names.name_is_dns_label, default=default_namespace, validate=validate_namespace)
CONFIGMAP = KindStrategy(name_fn=names.name_is_dns_subdomain, default=_no_defaults, validate=validate_configmap)
SECRET = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_secret, validate=validate_secret)
SERVICEACCOUNT = KindStrategy(name_fn=names.name_is_dns_subdomain, default=_no_defaults, validate=_no_validation)
