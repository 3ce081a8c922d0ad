"""The Kubernetes CEL libraries, as custom functions for the cel-expr-python environment.

Kubernetes adds libraries to CEL that ValidatingAdmissionPolicies commonly use
(``k8s.io/apiserver/pkg/cel/library``); this module declares the most used ones:

- quantity (``quantity.go``): ``quantity(s)``, ``isQuantity(s)``, and on a quantity
  ``isLessThan``, ``isGreaterThan``, ``compareTo``, ``add``/``sub`` (quantity or int), ``mul(int)``,
  ``asInteger``, ``asApproximateFloat``, ``isInteger``, ``sign``. The binding cannot carry an opaque
  type at run time, so a quantity is the map ``{"kubernetes.Quantity": "<canonical DecimalSI>"}``:
  every documented function behaves as in Kubernetes, and ``==`` is exact value equality
  (``quantity('200M') == quantity('0.2G')``, ``quantity('1Ki') == quantity('1024')``) because the
  value is always written in one canonical form. What differs: ``type(quantity('1'))`` is ``map``,
  and the map can be indexed.
- lists (``lists.go``): ``isSorted()``, ``sum()``, ``min()``, ``max()``, ``indexOf(x)``,
  ``lastIndexOf(x)`` on any list. The binding has no type parameters, so ``sum``/``min``/``max``
  have the static type ``dyn`` (the value is the element type's, as in Kubernetes).
- regex (``regex.go``): ``find(re)``, ``findAll(re)``, ``findAll(re, n)`` on strings (Python's
  ``re`` syntax, which agrees with RE2 on the usual patterns).
- URLs (``urls.go``): ``url(s)``, ``isURL(s)`` and ``getScheme``, ``getHost``, ``getHostname``,
  ``getPort``, ``getEscapedPath``, ``getQuery`` (a URL is ``{"kubernetes.URL": "<text>"}``).

Pure: no I/O. Called by :func:`gitkube.policy.cel._environment` via :func:`extension`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from cel_expr_python import cel

from gitkube.api.quantity import DECIMAL_SI, Quantity, QuantityError, parse_quantity

__all__ = ["QUANTITY_KEY", "URL_KEY", "extension"]

#: The one key of the map that stands for a quantity / a URL.
QUANTITY_KEY = "kubernetes.Quantity"
URL_KEY = "kubernetes.URL"

_T = cel.Type
_STR = _T.STRING
_INT = _T.INT
_BOOL = _T.BOOL
_DYN = _T.DYN
_OBJ = _T.Map(_STR, _STR)  # the static type of a quantity and of a URL
_LIST = _T.List(_DYN)


class _NoOverload(TypeError):
    """A value the function does not accept (cel-cpp reports it as an evaluation error)."""


# -- quantity -------------------------------------------------------------------------------

_INT64 = (-(2**63), 2**63 - 1)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Quantity:
    return parse_quantity(text)


def _wrap_quantity(value: Fraction) -> dict[str, str]:
    return {QUANTITY_KEY: str(Quantity(value, DECIMAL_SI))}


def _value(arg: Any) -> Fraction:
    """The exact value of a quantity map, or of an int operand (``add(20)``)."""
    if isinstance(arg, int) and not isinstance(arg, bool):
        return Fraction(arg)
    if isinstance(arg, dict) and len(arg) == 1 and isinstance(arg.get(QUANTITY_KEY), str):
        return _parse(arg[QUANTITY_KEY]).value
    raise _NoOverload(f"no such overload: expected a quantity, got {type(arg).__name__}")


@functools.lru_cache(maxsize=1024)
def _canonical_decimal(text: str) -> str:
    return str(Quantity(_parse(text).value, DECIMAL_SI))


def quantity(text: str) -> dict[str, str]:
    """``quantity('1.5G')``; Kubernetes' parse error for an invalid string."""
    try:
        return {QUANTITY_KEY: _canonical_decimal(text)}
    except QuantityError as exc:
        raise ValueError(str(exc)) from None


def is_quantity(text: str) -> bool:
    try:
        _parse(text)
    except QuantityError:
        return False
    return True


def q_sign(q: Any) -> int:
    v = _value(q)
    return (v > 0) - (v < 0)


def q_compare(a: Any, b: Any) -> int:
    x, y = _value(a), _value(b)
    return (x > y) - (x < y)


def q_less(a: Any, b: Any) -> bool:
    return _value(a) < _value(b)


def q_greater(a: Any, b: Any) -> bool:
    return _value(a) > _value(b)


def q_float(q: Any) -> float:
    v = _value(q)
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def q_is_integer(q: Any) -> bool:
    v = _value(q)
    return v.denominator == 1 and _INT64[0] <= v <= _INT64[1]


def q_integer(q: Any) -> int:
    if not q_is_integer(q):
        raise ValueError("cannot convert value to integer")
    return int(_value(q))


def q_add(a: Any, b: Any) -> dict[str, str]:
    return _wrap_quantity(_value(a) + _value(b))


def q_sub(a: Any, b: Any) -> dict[str, str]:
    return _wrap_quantity(_value(a) - _value(b))


def q_mul(a: Any, n: int) -> dict[str, str]:
    return _wrap_quantity(_value(a) * n)


# -- lists ----------------------------------------------------------------------------------

def _kind(x: Any) -> str:
    """The CEL comparison class of a value: numbers compare across int/uint/double."""
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, (int, float)):
        return "number"
    return type(x).__name__


def _equal(a: Any, b: Any) -> bool:
    return _kind(a) == _kind(b) and bool(a == b)


def _comparable(items: list[Any]) -> list[Any]:
    kinds = {_kind(x) for x in items}
    if len(kinds) > 1 or kinds & {"dict", "list", "NoneType"}:
        raise _NoOverload(f"no such overload: cannot compare {', '.join(sorted(kinds))}")
    return items


def is_sorted(items: list[Any]) -> bool:
    items = _comparable(items)
    return all(items[i] <= items[i + 1] for i in range(len(items) - 1))


def list_sum(items: list[Any]) -> Any:
    if not items:
        return 0
    if isinstance(items[0], timedelta):
        return sum(items, timedelta(0))
    if any(_kind(x) != "number" for x in items):
        raise _NoOverload("no such overload: sum() needs a list of numbers or durations")
    if all(isinstance(x, float) for x in items):
        return math.fsum(items)
    return sum(items)


def list_min(items: list[Any]) -> Any:
    if not items:
        raise ValueError("min called on empty list")
    return min(_comparable(items))


def list_max(items: list[Any]) -> Any:
    if not items:
        raise ValueError("max called on empty list")
    return max(_comparable(items))


def list_index_of(items: list[Any], item: Any) -> int:
    return next((i for i, x in enumerate(items) if _equal(x, item)), -1)


def list_last_index_of(items: list[Any], item: Any) -> int:
    return next((i for i in range(len(items) - 1, -1, -1) if _equal(items[i], item)), -1)


# -- regex ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


def find(text: str, pattern: str) -> str:
    """The first match of ``pattern`` in ``text``, or ``""``."""
    m = _regex(pattern).search(text)
    return m.group(0) if m else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """Every match (at most ``limit`` when ``limit >= 0``), as Go's ``FindAllString``."""
    if limit == 0:
        return []
    out: list[str] = []
    for m in _regex(pattern).finditer(text):
        out.append(m.group(0))
        if len(out) == limit:
            break
    return out


# -- URLs -----------------------------------------------------------------------------------

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_VALID_ENCODED_PATH = re.compile(r"(?:[A-Za-z0-9\-_.~!$&'()*+,;=:@\[\]/]|%[0-9A-Fa-f]{2})*")
_HOST_CHARS = re.compile(r"[A-Za-z0-9\-_.~!$&'()*+,;=%]*")


@functools.lru_cache(maxsize=256)
def _split_url(text: str) -> tuple[str, str, str, str]:
    """(scheme, host, path, query) of an absolute URI or absolute path, as Go's
    ``url.ParseRequestURI`` accepts it (the fragment is dropped, as ``url.Parse`` does)."""
    if not text:
        raise ValueError("URL parse error during conversion from string: empty url")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("URL parse error during conversion from string: invalid control character in URL")
    rest, scheme = text.split("#", 1)[0], ""
    m = _SCHEME.match(rest)
    if m:
        scheme, rest = m.group(0)[:-1].lower(), rest[m.end():]
    if not rest.startswith("/"):
        raise ValueError(f"URL parse error during conversion from string: parse {text!r}: invalid URI for request")
    rest, _, query = rest.partition("?")
    host = ""
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        host = authority.rpartition("@")[2]
        _check_host(text, host)
    if _BAD_ESCAPE.search(rest):
        raise ValueError(f"URL parse error during conversion from string: parse {text!r}: invalid URL escape")
    return scheme, host, rest, query


def _check_host(text: str, host: str) -> None:
    name, port = host, ""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"URL parse error during conversion from string: parse {text!r}: missing ']' in host")
        name, port = host[:end + 1], host[end + 1:]
    elif ":" in host:
        i = host.rfind(":")
        name, port = host[:i], host[i:]
    if port and not re.fullmatch(r":[0-9]*", port):
        raise ValueError(f'URL parse error during conversion from string: parse {text!r}: invalid port "{port}" '
                         "after host")
    if not name.startswith("[") and not _HOST_CHARS.fullmatch(name):
        raise ValueError(f"URL parse error during conversion from string: parse {text!r}: invalid character in host name")


def _url_parts(u: Any) -> tuple[str, str, str, str]:
    if isinstance(u, dict) and len(u) == 1 and isinstance(u.get(URL_KEY), str):
        return _split_url(u[URL_KEY])
    raise _NoOverload(f"no such overload: expected a URL, got {type(u).__name__}")


def url(text: str) -> dict[str, str]:
    _split_url(text)
    return {URL_KEY: text}


def is_url(text: str) -> bool:
    try:
        _split_url(text)
    except ValueError:
        return False
    return True


def url_scheme(u: Any) -> str:
    return _url_parts(u)[0]


def url_host(u: Any) -> str:
    return _url_parts(u)[1]


def url_hostname(u: Any) -> str:
    host = _url_parts(u)[1]
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rpartition(":")[0] if ":" in host else host


def url_port(u: Any) -> str:
    host = _url_parts(u)[1]
    if host.startswith("["):
        host = host[host.find("]") + 1:]
    return host.rpartition(":")[2] if ":" in host else ""


def url_escaped_path(u: Any) -> str:
    path = _url_parts(u)[2]
    if _VALID_ENCODED_PATH.fullmatch(path):
        return path
    return quote(unquote(path), safe="$&+,/:;=@-_.~")


def url_query(u: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(_url_parts(u)[3], keep_blank_values=True, separator="&"):
        out.setdefault(key, []).append(value)
    return out


# -- declarations ---------------------------------------------------------------------------


def _fn(name: str, *overloads: tuple[str, Any, list[Any], bool, Callable[..., Any]]) -> Any:
    return cel.FunctionDecl(name, [
        cel.Overload(oid, ret, params, is_member=member, impl=body) for oid, ret, params, member, body in overloads
    ])


def _quantity_decls() -> list[Any]:
    q = _OBJ
    return [
        _fn("quantity", ("string_to_quantity", q, [_STR], False, quantity)),
        _fn("isQuantity", ("is_quantity_string", _BOOL, [_STR], False, is_quantity)),
        _fn("sign", ("quantity_sign", _INT, [q], False, q_sign),
            ("quantity_sign_member", _INT, [q], True, q_sign)),
        _fn("isGreaterThan", ("quantity_is_greater_than", _BOOL, [q, q], True, q_greater)),
        _fn("isLessThan", ("quantity_is_less_than", _BOOL, [q, q], True, q_less)),
        _fn("compareTo", ("quantity_compare_to", _INT, [q, q], True, q_compare)),
        _fn("asApproximateFloat", ("quantity_get_float", _T.DOUBLE, [q], True, q_float)),
        _fn("asInteger", ("quantity_get_int", _INT, [q], True, q_integer)),
        _fn("isInteger", ("quantity_is_integer", _BOOL, [q], True, q_is_integer)),
        _fn("add", ("quantity_add", q, [q, q], True, q_add),
            ("quantity_add_int", q, [q, _INT], True, q_add)),
        _fn("sub", ("quantity_sub", q, [q, q], True, q_sub),
            ("quantity_sub_int", q, [q, _INT], True, q_sub)),
        _fn("mul", ("quantity_multiply_int", q, [q, _INT], True, q_mul)),
    ]


def _list_decls() -> list[Any]:
    return [
        _fn("isSorted", ("list_is_sorted_bool", _BOOL, [_LIST], True, is_sorted)),
        _fn("sum", ("list_sum", _DYN, [_LIST], True, list_sum)),
        _fn("min", ("list_min", _DYN, [_LIST], True, list_min)),
        _fn("max", ("list_max", _DYN, [_LIST], True, list_max)),
        _fn("indexOf", ("list_a_index_of_int", _INT, [_LIST, _DYN], True, list_index_of)),
        _fn("lastIndexOf", ("list_a_last_index_of_int", _INT, [_LIST, _DYN], True, list_last_index_of)),
    ]


def _regex_decls() -> list[Any]:
    return [
        _fn("find", ("string_find_string", _STR, [_STR, _STR], True, find)),
        _fn("findAll", ("string_find_all_string", _T.List(_STR), [_STR, _STR], True, find_all),
            ("string_find_all_string_int", _T.List(_STR), [_STR, _STR, _INT], True, find_all)),
    ]


def _url_decls() -> list[Any]:
    u = _OBJ
    return [
        _fn("url", ("string_to_url", u, [_STR], False, url)),
        _fn("isURL", ("is_url_string", _BOOL, [_STR], False, is_url)),
        _fn("getScheme", ("url_get_scheme", _STR, [u], True, url_scheme)),
        _fn("getHost", ("url_get_host", _STR, [u], True, url_host)),
        _fn("getHostname", ("url_get_hostname", _STR, [u], True, url_hostname)),
        _fn("getPort", ("url_get_port", _STR, [u], True, url_port)),
        _fn("getEscapedPath", ("url_get_escaped_path", _STR, [u], True, url_escaped_path)),
        _fn("getQuery", ("url_get_query", _T.Map(_STR, _T.List(_STR)), [u], True, url_query)),
    ]


@functools.cache
def extension() -> Any:
    """The ``kubernetes`` CEL extension; must come after ``ExtStrings`` in the extension list
    (it adds list overloads to the strings library's ``indexOf``/``lastIndexOf``)."""
    return cel.CelExtension("kubernetes", _quantity_decls() + _list_decls() + _regex_decls() + _url_decls())

