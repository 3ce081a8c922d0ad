"""The Endpoints strategy: ``ValidateEndpoints`` with one deliberate difference.

Every subset needs ``addresses`` or ``notReadyAddresses``; addresses are valid IPs (not
unspecified, not link-local), hostnames are DNS labels, node names DNS subdomains; ports
are 1-65535 with a known protocol (defaulted to TCP) and named when there are several.
Unlike Kubernetes, loopback addresses are accepted: gitkube's pods and Service VIPs live on
127.0.0.0/8, and its endpoints controller publishes them.

Pure; registered in :mod:`gitkube.apiserver.strategy`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gitkube.apiserver.strategy import causes as c
from gitkube.apiserver.strategy import names
from gitkube.apiserver.strategy.base import KindStrategy, get_int, get_list, get_str
from gitkube.errors import Cause

__all__ = ["ENDPOINTS", "default_endpoints", "validate_endpoints"]

_PROTOCOLS = ("SCTP", "TCP", "UDP")


def _validate_address(address: Any, path: str) -> list[Cause]:
    ip = get_str(address, "ip")
    out = [c.invalid(c.child(path, "ip"), ip, m) for m in names.is_valid_ip(ip)]
    hostname = get_str(address, "hostname")
    if hostname:
        out += [c.invalid(c.child(path, "hostname"), hostname, m) for m in names.is_dns1123_label(hostname)]
    node_name = address.get("nodeName") if isinstance(address, dict) else None
    if isinstance(node_name, str):
        out += [c.invalid(c.child(path, "nodeName"), node_name, m) for m in names.name_is_dns_subdomain(node_name, False)]
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return out + [c.invalid(c.child(path, "ip"), ip, "must be a valid IP address")]
    if parsed.is_unspecified:
        out.append(c.invalid(c.child(path, "ip"), ip, f"may not be unspecified ({ip})"))
    if parsed.is_link_local and not parsed.is_multicast:
        out.append(c.invalid(c.child(path, "ip"), ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if parsed.is_multicast and (parsed in ipaddress.ip_network("224.0.0.0/24") or str(parsed).startswith("ff02:")):
        out.append(c.invalid(c.child(path, "ip"), ip,
                             "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return out


def validate_endpoints(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for i, subset in enumerate(get_list(obj, "subsets")):
        spath = c.index("subsets", i)
        if not get_list(subset, "addresses") and not get_list(subset, "notReadyAddresses"):
            out.append(c.required(spath, "must specify `addresses` or `notReadyAddresses`"))
        for kind in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(get_list(subset, kind)):
                out += _validate_address(address, c.index(c.child(spath, kind), j))
        ports = get_list(subset, "ports")
        for j, port in enumerate(ports):
            ppath = c.index(c.child(spath, "ports"), j)
            name = get_str(port, "name")
            if len(ports) > 1 and not name:
                out.append(c.required(c.child(ppath, "name")))
            elif name:
                out += [c.invalid(c.child(ppath, "name"), name, m) for m in names.is_dns1123_label(name)]
            number = get_int(port, "port") or 0
            out += [c.invalid(c.child(ppath, "port"), number, m) for m in names.is_valid_port_num(number)]
            protocol = get_str(port, "protocol")
            if not protocol:
                out.append(c.required(c.child(ppath, "protocol")))
            elif protocol not in _PROTOCOLS:
                out.append(c.not_supported(c.child(ppath, "protocol"), protocol, _PROTOCOLS))
    return out


def default_endpoints(obj: dict[str, Any]) -> None:
    for subset in get_list(obj, "subsets"):
        for port in get_list(subset, "ports"):
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"


ENDPOINTS = KindStrategy(name_fn=names.name_is_dns_subdomain, default=default_endpoints, validate=validate_endpoints)
