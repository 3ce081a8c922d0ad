"""Kubernetes resource quantities: exact parsing, arithmetic and canonical formatting.

A quantity is what a Pod's ``resources.requests.cpu`` or a ResourceQuota's ``hard`` holds:
``100m``, ``1.5Gi``, ``2e3``, ``1``. This module mirrors ``k8s.io/apimachinery/pkg/api/resource``:

- :func:`parse_quantity` accepts the same text the API server accepts (binary suffixes
  ``Ki Mi Gi Ti Pi Ei``, decimal suffixes ``n u m k M G T P E``, exponents ``e3``/``E-2``)
  and JSON numbers, and keeps the value exactly as a :class:`fractions.Fraction`. Values finer
  than a nano unit are rounded away from zero to ``1n``, as Kubernetes does.
- :meth:`Quantity.__str__` renders the canonical form the API server stores and returns
  (``0.5`` -> ``500m``, ``1.5Gi`` -> ``1536Mi``, ``1000m`` -> ``1``).
- Quantities compare and add exactly; ``milli_value`` and ``int_value`` round up like
  ``MilliValue()`` and ``Value()``.

Pure. Called by the API server's strategies (validation, defaulting) and later by the
scheduler and the quota controller.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Final

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "Quantity",
    "QuantityError",
    "canonical",
    "parse_quantity",
]

DECIMAL_SI: Final = "DecimalSI"
BINARY_SI: Final = "BinarySI"
DECIMAL_EXPONENT: Final = "DecimalExponent"

ERR_FORMAT_WRONG: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
ERR_NUMERIC: Final = "unable to parse numeric part of quantity"
ERR_SUFFIX: Final = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_DECIMAL_BY_EXPONENT: Final[dict[int, str]] = {v: k for k, v in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES: Final[dict[str, int]] = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_BINARY_BY_POWER: Final[tuple[str, ...]] = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

# sign, integer digits, optional fraction, then everything else (the suffix).
_NUMBER_RE: Final = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$", re.DOTALL)
_SUFFIX_CHARS_RE: Final = re.compile(r"^[eEinumkKMGTP]*[-+]?[0-9]*$")
_NANO: Final = 10**9


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; the message is Kubernetes' own."""


def _round_to_nano(value: Fraction) -> Fraction:
    """Round away from zero to a multiple of 1e-9, as ParseQuantity does with inf.RoundUp."""
    scaled = value * _NANO
    if scaled.denominator == 1:
        return value
    magnitude = math.ceil(abs(scaled))
    return Fraction(magnitude if scaled > 0 else -magnitude, _NANO)


@functools.total_ordering
class Quantity:
    """An exact quantity with the format (DecimalSI, BinarySI, DecimalExponent) it was written in."""

    __slots__ = ("_format", "_value")

    def __init__(self, value: Fraction | int = 0, fmt: str = DECIMAL_SI) -> None:
        if fmt not in (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT):
            raise ValueError(f"unknown quantity format {fmt!r}")
        self._value = _round_to_nano(Fraction(value))
        self._format = fmt

    # -- construction -------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | int | float) -> Quantity:
        """Parse quantity text (or a JSON number); raise :class:`QuantityError` if invalid."""
        return parse_quantity(text)

    @classmethod
    def from_milli(cls, milli: int, fmt: str = DECIMAL_SI) -> Quantity:
        """The quantity ``milli`` thousandths (``from_milli(250)`` is ``250m``)."""
        return cls(Fraction(milli, 1000), fmt)

    # -- accessors ----------------------------------------------------------------------

    @property
    def value(self) -> Fraction:
        """The exact value."""
        return self._value

    @property
    def format(self) -> str:
        return self._format

    def is_zero(self) -> bool:
        return self._value == 0

    def sign(self) -> int:
        return (self._value > 0) - (self._value < 0)

    def int_value(self) -> int:
        """The value rounded up to an integer (Kubernetes ``Value()``)."""
        return math.ceil(self._value)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up (Kubernetes ``MilliValue()``)."""
        return math.ceil(self._value * 1000)

    def is_integer(self) -> bool:
        return self._value.denominator == 1

    # -- arithmetic and comparison ------------------------------------------------------

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self._value + other._value, self._format)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self._value - other._value, self._format)

    def __neg__(self) -> Quantity:
        return Quantity(-self._value, self._format)

    def __mul__(self, factor: int) -> Quantity:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Quantity(self._value * factor, self._format)

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._value == other._value
        return NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(self._value)

    # -- formatting ---------------------------------------------------------------------

    def __str__(self) -> str:
        if self._value == 0:
            return "0"
        if self._format == BINARY_SI and abs(self._value) >= 1024 and self._value.denominator == 1:
            return _format_binary(int(self._value))
        fmt = DECIMAL_SI if self._format == BINARY_SI else self._format
        return _format_decimal(self._value, fmt)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"


def _format_binary(value: int) -> str:
    power = 0
    while value % 1024 == 0 and power < len(_BINARY_BY_POWER) - 1:
        value //= 1024
        power += 1
    return f"{value}{_BINARY_BY_POWER[power]}"


def _format_decimal(value: Fraction, fmt: str) -> str:
    mantissa = int(value * _NANO)  # exact: values are kept at nano precision
    exponent = -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3  # lower the exponent to a multiple of three
    mantissa *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}" if exponent == 0 else f"{mantissa}e{exponent}"
    if exponent > 18:
        mantissa *= 10 ** (exponent - 18)
        exponent = 18
    return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """Return (base, exponent, format) of a suffix, as the suffixer of apimachinery does."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, 10 * _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            return 10, int(suffix[1:], 10), DECIMAL_EXPONENT
        except ValueError:
            pass
    raise QuantityError(ERR_SUFFIX)


def parse_quantity(text: str | int | float) -> Quantity:
    """Parse a quantity as the API server does.

    Strings follow ``resource.ParseQuantity``; ints and floats are what a JSON number in a
    manifest decodes to. Raises :class:`QuantityError` with Kubernetes' message.
    """
    if isinstance(text, bool):
        raise QuantityError(ERR_FORMAT_WRONG)
    if isinstance(text, int):
        return Quantity(text, DECIMAL_SI)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(ERR_FORMAT_WRONG)
        text = repr(text)
    if not isinstance(text, str) or not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    match = _NUMBER_RE.match(text)
    if match is None:
        raise QuantityError(ERR_FORMAT_WRONG)
    sign, whole, frac, suffix = match.groups()
    frac = frac or ""
    if not whole and not frac:
        raise QuantityError(ERR_NUMERIC if "." in text[: len(text) - len(suffix)] else ERR_FORMAT_WRONG)
    if not _SUFFIX_CHARS_RE.match(suffix):
        raise QuantityError(ERR_FORMAT_WRONG)
    base, exponent, fmt = _interpret_suffix(suffix)
    value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    value *= Fraction(base) ** exponent
    if sign == "-":
        value = -value
    return Quantity(value, fmt)


def canonical(text: str | int | float) -> str:
    """The canonical form of a quantity (``canonical("0.5") == "500m"``)."""
    return str(parse_quantity(text))
