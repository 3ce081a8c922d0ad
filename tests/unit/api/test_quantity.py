"""Table-driven tests of gitkube.api.quantity against resource.Quantity's behaviour."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gitkube.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    Quantity,
    QuantityError,
    canonical,
    parse_quantity,
)

# (input, exact value, format, canonical string) — canonical forms as the API server returns them.
PARSE = [
    ("0", Fraction(0), DECIMAL_SI, "0"),
    ("1", Fraction(1), DECIMAL_SI, "1"),
    ("+1", Fraction(1), DECIMAL_SI, "1"),
    ("100m", Fraction(1, 10), DECIMAL_SI, "100m"),
    ("0.5", Fraction(1, 2), DECIMAL_SI, "500m"),
    (".5", Fraction(1, 2), DECIMAL_SI, "500m"),
    ("5.", Fraction(5), DECIMAL_SI, "5"),
    ("1.5", Fraction(3, 2), DECIMAL_SI, "1500m"),
    ("1000m", Fraction(1), DECIMAL_SI, "1"),
    ("1500", Fraction(1500), DECIMAL_SI, "1500"),
    ("1200000", Fraction(1200000), DECIMAL_SI, "1200k"),
    ("1000k", Fraction(10**6), DECIMAL_SI, "1M"),
    ("1k", Fraction(1000), DECIMAL_SI, "1k"),
    ("1M", Fraction(10**6), DECIMAL_SI, "1M"),
    ("1G", Fraction(10**9), DECIMAL_SI, "1G"),
    ("1T", Fraction(10**12), DECIMAL_SI, "1T"),
    ("1P", Fraction(10**15), DECIMAL_SI, "1P"),
    ("1E", Fraction(10**18), DECIMAL_SI, "1E"),
    ("1n", Fraction(1, 10**9), DECIMAL_SI, "1n"),
    ("1u", Fraction(1, 10**6), DECIMAL_SI, "1u"),
    ("0.1n", Fraction(1, 10**9), DECIMAL_SI, "1n"),  # rounded up to the nano unit
    ("-0.1n", Fraction(-1, 10**9), DECIMAL_SI, "-1n"),  # away from zero
    ("-100m", Fraction(-1, 10), DECIMAL_SI, "-100m"),
    ("1Ki", Fraction(1024), BINARY_SI, "1Ki"),
    ("1Mi", Fraction(1024**2), BINARY_SI, "1Mi"),
    ("1Gi", Fraction(1024**3), BINARY_SI, "1Gi"),
    ("1Ti", Fraction(1024**4), BINARY_SI, "1Ti"),
    ("1Pi", Fraction(1024**5), BINARY_SI, "1Pi"),
    ("1Ei", Fraction(1024**6), BINARY_SI, "1Ei"),
    ("1.5Gi", Fraction(3 * 1024**3, 2), BINARY_SI, "1536Mi"),
    ("1.5Ki", Fraction(1536), BINARY_SI, "1536"),  # not a multiple of 1024: plain
    ("0.5Ki", Fraction(512), BINARY_SI, "512"),  # below 1024: decimal form
    ("1024Mi", Fraction(1024**3), BINARY_SI, "1Gi"),
    ("2e3", Fraction(2000), DECIMAL_EXPONENT, "2e3"),
    ("1.5e3", Fraction(1500), DECIMAL_EXPONENT, "1500"),
    ("1e-3", Fraction(1, 1000), DECIMAL_EXPONENT, "1e-3"),
    ("12E6", Fraction(12 * 10**6), DECIMAL_EXPONENT, "12e6"),
    ("1e21", Fraction(10**21), DECIMAL_EXPONENT, "1e21"),
]


@pytest.mark.parametrize(("text", "value", "fmt", "shown"), PARSE)
def test_parse_and_canonical_form(text: str, value: Fraction, fmt: str, shown: str) -> None:
    q = parse_quantity(text)
    assert q.value == value
    assert q.format == fmt
    assert str(q) == shown
    assert canonical(text) == shown
    assert parse_quantity(shown) == q  # the canonical form parses back to the same value


@pytest.mark.parametrize(("number", "shown"), [(1, "1"), (0, "0"), (2048, "2048"), (0.25, "250m"), (1.5, "1500m")])
def test_json_numbers(number: int | float, shown: str) -> None:
    assert canonical(number) == shown


@pytest.mark.parametrize(("text", "message"), [
    ("", ERR_FORMAT_WRONG),
    ("abc", ERR_FORMAT_WRONG),
    ("m", ERR_FORMAT_WRONG),
    ("1.2.3", ERR_FORMAT_WRONG),
    ("--1", ERR_FORMAT_WRONG),
    ("1x", ERR_FORMAT_WRONG),
    ("1 Gi", ERR_FORMAT_WRONG),
    ("1K", ERR_SUFFIX),
    ("1e", ERR_SUFFIX),
    ("1Kb", ERR_FORMAT_WRONG),
    ("1mi", ERR_SUFFIX),
    (".", ERR_NUMERIC),
])
def test_invalid_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as exc:
        parse_quantity(text)
    assert str(exc.value) == message


def test_invalid_non_numbers() -> None:
    for bad in (True, float("inf"), float("nan")):
        with pytest.raises(QuantityError):
            parse_quantity(bad)


def test_error_message_is_kubernetes_regex_text() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_comparison_and_arithmetic() -> None:
    a, b = parse_quantity("1Gi"), parse_quantity("1024Mi")
    assert a == b and hash(a) == hash(b)
    assert parse_quantity("100m") < parse_quantity("1")
    assert parse_quantity("1") <= parse_quantity("1000m")
    assert max(parse_quantity("2"), parse_quantity("1500m")) == parse_quantity("2")
    total = parse_quantity("250m") + parse_quantity("0.5")
    assert str(total) == "750m"
    assert str(parse_quantity("1Gi") - parse_quantity("512Mi")) == "512Mi"  # keeps the left format
    assert str(-parse_quantity("1Gi")) == "-1Gi"
    assert str(parse_quantity("100m") * 3) == "300m"
    assert str(3 * parse_quantity("1Mi")) == "3Mi"
    assert parse_quantity("0") != parse_quantity("1n")
    assert (parse_quantity("1") == "1") is False


def test_rounding_accessors() -> None:
    assert parse_quantity("100m").milli_value() == 100
    assert parse_quantity("1n").milli_value() == 1  # MilliValue rounds up
    assert parse_quantity("1.2").int_value() == 2  # Value rounds up
    assert parse_quantity("1Gi").int_value() == 1024**3
    assert parse_quantity("-1.5").int_value() == -1
    assert parse_quantity("1").is_integer() and not parse_quantity("1500m").is_integer()
    assert parse_quantity("0").is_zero() and parse_quantity("-1").sign() == -1 and parse_quantity("2").sign() == 1


def test_construction() -> None:
    assert str(Quantity.from_milli(250)) == "250m"
    assert str(Quantity(3 * 1024**2, BINARY_SI)) == "3Mi"
    assert str(Quantity(Fraction(1, 3))) == "333333334n"  # nano precision, rounded up
    assert repr(Quantity.parse("1Gi")) == "Quantity('1Gi')"
    with pytest.raises(ValueError):
        Quantity(1, "Octal")
