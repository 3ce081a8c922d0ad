from __future__ import annotations

import pytest

from gitkube.util import duration


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2", 2), ("1.5s", 1.5)])
def test_parse(text: str, seconds: float) -> None:
    assert duration.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "5m garbage", "-1s"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration.parse(text)
