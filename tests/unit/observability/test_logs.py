"""--log-format json: every record one JSON object per line, tracebacks as a string; the console
writer follows the same format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gitkube.observability import logs


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_with_exception_and_extra_fields() -> None:
    out = io.StringIO()
    logs.configure("info", "json", out)
    log = logging.getLogger("gitkube.test")
    log.info("hello %s", "world", extra={"commit": "abc"})
    log.debug("not shown")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("it failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "gitkube.test" and first["message"] == "hello world"
    assert first["commit"] == "abc" and first["time"].endswith("Z") and "exc_info" not in first
    assert second["level"] == "error" and second["message"] == "it failed"
    assert "Traceback" in second["exc_info"] and "ValueError: boom" in second["exc_info"]


def test_text_is_the_default() -> None:
    out = io.StringIO()
    logs.configure("warning", stream=out)
    logging.getLogger("gitkube.test").warning("careful")
    line = out.getvalue().strip()
    assert line.endswith("WARNING gitkube.test: careful")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        logs.configure("info", "xml")


def test_console_writer() -> None:
    text, as_json = io.StringIO(), io.StringIO()
    logs.console("text", text)("Synced abc", prefix="gitkube: ", fields={"outcome": "Synced"})
    logs.console("json", as_json)("Synced abc", prefix="gitkube: ", level="x",
                                  fields={"outcome": "Synced", "message": "ignored", "level": "y"})
    assert text.getvalue() == "gitkube: Synced abc\n"
    doc = json.loads(as_json.getvalue())
    # the fixed keys cannot be overridden by a progress event's fields
    assert doc["message"] == "Synced abc" and doc["outcome"] == "Synced" and doc["logger"] == "gitkube.console"
    assert doc["level"] == "x"  # level is the writer's own argument
