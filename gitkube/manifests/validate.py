"""Strict validation of one object, as ``kubectl apply --validate=strict`` would judge it.

:func:`check_object` returns every problem of one object as (field path, message) pairs; the
path says where to point (``""`` = the document start), the message is what the user reads
(``spec.replicass: unknown field "replicass"``). It checks:

- ``apiVersion`` and ``kind`` present, the kind served (``no matches for kind "Foo" in version "v1"``);
- unknown fields and wrong JSON types, via :func:`gitkube.api.schema.check_fields`;
- ``metadata.name`` present and well formed for its kind (Kubernetes' name rules: a Service name
  is a DNS-1035 label, a Namespace or StatefulSet name a DNS-1123 label, the rest DNS-1123
  subdomains), ``metadata.namespace`` a DNS-1123 label.

It also drops ``metadata.namespace`` from cluster-scoped kinds (kubectl ignores it there). The
name regexes repeat ``gitkube.apiserver.strategy.names`` on purpose: manifests must not import
the API server. Callers: :mod:`gitkube.manifests.blob`.
"""

from __future__ import annotations

import re
from typing import Any

from gitkube.api.schema import check_fields
from gitkube.api.scheme import by_kind

__all__ = ["check_object", "name_problems"]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + "(\\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(f"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN}$")
_DNS1035_RE = re.compile(f"^{_DNS1035}$")

_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
              "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
              f"regex used for validation is '{_LABEL}')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                  "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                  f"regex used for validation is '{_SUBDOMAIN}')")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                f"'abc-123', regex used for validation is '{_DNS1035}')")

# Kinds whose metadata.name is not a DNS-1123 subdomain (gitkube.apiserver.strategy name_fn).
_NAME_RULE = {("", "Service"): "dns1035", ("", "Namespace"): "label", ("apps", "StatefulSet"): "label"}


def _label(value: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _LABEL_RE.match(value):
        errs.append("must not contain dots" if _SUBDOMAIN_RE.match(value) else _LABEL_MSG)
    return errs


def _subdomain(value: str) -> list[str]:
    errs = ["must be no more than 253 characters"] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.match(value):
        errs.append(_SUBDOMAIN_MSG)
    return errs


def _dns1035(value: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _DNS1035_RE.match(value):
        errs.append(_DNS1035_MSG)
    return errs


_RULES = {"label": _label, "subdomain": _subdomain, "dns1035": _dns1035}


def name_problems(group: str, kind: str, name: str) -> list[str]:
    """What is wrong with ``name`` as the ``metadata.name`` of a ``group``/``kind``."""
    return _RULES[_NAME_RULE.get((group, kind), "subdomain")](name)


def check_object(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of one object as (path to point at, message). May drop a cluster-scoped
    kind's ``metadata.namespace``."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    out: list[tuple[str, str]] = []
    if not isinstance(api_version, str) or not api_version:
        out.append(("apiVersion", "apiVersion not set" if api_version in (None, "") else
                    "apiVersion: must be a string"))
    if not isinstance(kind, str) or not kind:
        out.append(("kind", "kind not set" if kind in (None, "") else "kind: must be a string"))
    if out:
        return out
    assert isinstance(api_version, str) and isinstance(kind, str)
    info = by_kind(api_version, kind)
    if info is None:
        return [("kind", f'no matches for kind "{kind}" in version "{api_version}"')]
    report = check_fields(api_version, kind, obj)
    out += [(path, f'{path}: unknown field "{path.rpartition(".")[2]}"') for path in report.unknown]
    out += [(cause.field, f"{cause.field}: {cause.message}") for cause in report.type_errors]
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        if meta is None:
            out.append(("metadata", "metadata.name: Required value: name is required"))
        return out
    name = meta.get("name")
    if name is None or name == "":
        out.append(("metadata", "metadata.name: Required value: name is required"))
    elif isinstance(name, str):
        out += [("metadata.name", f'metadata.name: Invalid value: "{name}": {m}')
                for m in name_problems(info.group, kind, name)]
    namespace = meta.get("namespace")
    if not info.namespaced:
        meta.pop("namespace", None)
    elif isinstance(namespace, str) and namespace:
        out += [("metadata.namespace", f'metadata.namespace: Invalid value: "{namespace}": {m}')
                for m in _label(namespace)]
    return out
