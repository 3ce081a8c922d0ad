"""Ages, timestamps, labels and selectors, against the Go implementations' behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitkube.apiserver.printers import format as fmt

S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (-3 * S, "<invalid>"),
        (-2 * S, "<invalid>"),
        (-1500 * timedelta(milliseconds=1), "0s"),  # int(-1.5) is -1: within the 2s tolerance
        (-1 * S, "0s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=999), "0s"),
        (5 * S, "5s"),
        (119 * S, "119s"),
        (120 * S, "2m"),
        (200 * S, "3m20s"),
        (599 * S, "9m59s"),
        (600 * S, "10m"),
        (659 * S, "10m"),
        (179 * M + 59 * S, "179m"),
        (180 * M, "3h"),
        (4 * H, "4h"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H, "8h"),
        (8 * H + 59 * M, "8h"),
        (47 * H + 59 * M, "47h"),
        (48 * H, "2d"),
        (51 * H, "2d3h"),
        (191 * H, "7d23h"),
        (192 * H, "8d"),
        (12 * D + 5 * H, "12d"),
        (729 * D + 23 * H, "729d"),
        (730 * D, "2y"),
        (731 * D, "2y1d"),
        (365 * 8 * D - H, "7y364d"),
        (365 * 8 * D, "8y"),
        (365 * 10 * D + 100 * D, "10y"),
    ],
)
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert fmt.human_duration(delta) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (-2 * S, "<invalid>"),
        (-1 * S, "0s"),
        (0 * S, "0s"),
        (59 * S, "59s"),
        (60 * S, "1m"),
        (200 * S, "3m"),
        (59 * M + 59 * S, "59m"),
        (60 * M, "1h"),
        (23 * H + 59 * M, "23h"),
        (24 * H, "1d"),
        (364 * D, "364d"),
        (365 * D, "1y"),
        (800 * D, "2y"),
    ],
)
def test_short_human_duration(delta: timedelta, expected: str) -> None:
    assert fmt.short_human_duration(delta) == expected


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T11:56:40Z", "3m20s"),
        ("2024-05-01T11:56:40.500000Z", "3m19s"),  # MicroTime keeps sub-second precision
        ("2024-05-01T13:56:40+02:00", "3m20s"),
        ("2024-05-01T12:00:01Z", "0s"),  # up to a second in the future is clock skew
        ("2024-05-01T12:00:30Z", "<invalid>"),
        (None, "<unknown>"),
        ("", "<unknown>"),
        ("0001-01-01T00:00:00Z", "<unknown>"),  # Go's zero time
        ("not a time", "<unknown>"),
    ],
)
def test_translate_timestamp_since(value: str | None, expected: str) -> None:
    assert fmt.translate_timestamp_since(value, NOW) == expected


def test_rfc3339_is_utc_without_fraction() -> None:
    assert fmt.rfc3339("2024-05-01T14:00:00.75+02:00") == "2024-05-01T12:00:00Z"
    assert fmt.rfc3339(None) == "0001-01-01T00:00:00Z"


def test_format_labels_sorted_or_none() -> None:
    assert fmt.format_labels({"tier": "web", "app": "shop"}) == "app=shop,tier=web"
    assert fmt.format_labels({}) == "<none>"
    assert fmt.format_labels(None) == "<none>"


def test_label_selector_string_sorts_requirements_by_key() -> None:
    spec = {
        "matchLabels": {"z": "1", "a": "2"},
        "matchExpressions": [
            {"key": "m", "operator": "NotIn", "values": ["y", "x"]},
            {"key": "b", "operator": "Exists"},
        ],
    }
    assert fmt.label_selector_string(spec) == "a=2,b,m notin (x,y),z=1"
    assert fmt.label_selector_string(None) == ""
    assert fmt.label_selector_string({}) == ""


def test_format_label_selector_none_and_error() -> None:
    assert fmt.format_label_selector(None) == "<none>"
    assert fmt.format_label_selector({"matchLabels": {}}) == "<none>"
    assert fmt.format_label_selector({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}) == "<error>"


def test_layout_container_cells() -> None:
    containers = [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]
    assert fmt.layout_container_cells(containers) == ("a,b", "x:1,y:2")
    assert fmt.layout_container_cells(None) == ("", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1000m", "1"),
        ("0.5", "500m"),
        ("1.5Gi", "1536Mi"),
        (1073741824, "1073741824"),
        ("1Gi", "1Gi"),
        ("300Mi", "300Mi"),
        ("junk", "junk"),
    ],
)
def test_quantity_string_is_canonical(value: object, expected: str) -> None:
    assert fmt.quantity_string(value) == expected
