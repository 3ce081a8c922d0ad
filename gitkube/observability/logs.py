"""Logging set-up of the ``gitkube`` command: text (the default) or JSON lines.

``configure(level, fmt)`` installs one stderr handler on the root logger. With ``fmt="json"``
every record is one JSON object per line::

    {"time": "2026-11-26T10:00:00.123Z", "level": "warning", "logger": "gitkube.engine",
     "message": "drift: ...", "exc_info": "Traceback (most recent call last): ..."}

``exc_info`` (and ``stack_info``) appear only when the record has them, as one string; fields
given with ``extra=`` are added under their own names. ``console(fmt)`` is the writer of what a
user watching ``gitkube up`` sees on stdout (the banner, sync progress): plain lines as text, or
the same JSON objects (logger ``gitkube.console``, level info, plus the progress event's fields)
when ``fmt`` is json, so that with ``--log-format json`` every line the daemon writes parses.

Called by ``gitkube.cli`` (the global ``--log-format``) and ``gitkube.app``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping
from typing import Any, Protocol, TextIO

__all__ = ["FORMATS", "Console", "JSONFormatter", "TEXT_FORMAT", "configure", "console", "json_line"]

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _timestamp(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def json_line(level: str, logger: str, message: str, created: float | None = None,
              fields: Mapping[str, Any] | None = None) -> str:
    """One log object as a JSON line (no newline); ``fields`` never replace the four fixed keys."""
    doc: dict[str, Any] = {"time": _timestamp(dt.datetime.now(dt.UTC).timestamp() if created is None else created),
                           "level": level.lower(), "logger": logger, "message": message}
    for key, value in (fields or {}).items():
        doc.setdefault(key, value)  # the four fixed keys win
    return json.dumps(doc, default=str, ensure_ascii=False)


class JSONFormatter(logging.Formatter):
    """A record as one JSON object (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            fields["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exc_info"] = record.exc_text
        if record.stack_info:
            fields["stack_info"] = self.formatStack(record.stack_info)
        return json_line(record.levelname, record.name, record.getMessage(), record.created, fields)


def configure(level: str = "warning", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one writing to ``stream`` (stderr) in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


class Console(Protocol):
    def __call__(self, message: str, *, prefix: str = "", level: str = "info",
                 fields: Mapping[str, Any] | None = None) -> None: ...


def console(fmt: str = "text", stream: TextIO | None = None) -> Console:
    """The writer of the daemon's console lines (stdout by default): ``prefix + message`` as text;
    as JSON, the message with ``fields`` (a sync progress event's commit, outcome...) beside it."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")

    def write(message: str, *, prefix: str = "", level: str = "info", fields: Mapping[str, Any] | None = None) -> None:
        out = stream if stream is not None else sys.stdout
        if fmt == "json":
            out.write(json_line(level, "gitkube.console", message, fields=fields) + "\n")
        else:
            out.write(f"{prefix}{message}\n")
        out.flush()

    return write
