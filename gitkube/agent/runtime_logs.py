"""CRI-format container log files and RFC 3339 timestamps for the runtime.

The shim (``gitkube.agent.shim``) copies a container's stdout and stderr into
``DATA/pods/<ns>_<pod>_<uid>/logs/<container>/<attempt>.log`` in the CRI logging format the
kubelet and containerd use, one record per line::

    2024-05-01T10:00:00.123456789Z stdout F hello world
    2024-05-01T10:00:00.123457000Z stderr P first 16 KiB of a very long line...

``F`` marks the end of a line; ``P`` a partial record (a line longer than 16 KiB is split into
``P`` records and a final ``F`` one). At 10 MiB the file is renamed to ``<attempt>.log.1`` and
a fresh one is started. The API server's ``pods/log`` reads these files; the test kit's fake
runtime writes them with :class:`CRILogWriter` too.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_LOG_BYTES",
    "CRILogWriter",
    "rfc3339",
    "rfc3339nano",
]

MAX_LINE_BYTES = 16 * 1024
MAX_LOG_BYTES = 10 * 1024 * 1024


def rfc3339nano(ns: int | None = None) -> str:
    """``2024-05-01T10:00:00.123456789Z`` (UTC, nine fraction digits) for a time in ns."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def rfc3339(seconds: float | None = None) -> str:
    """``2024-05-01T10:00:00Z``: the second-precision form Kubernetes status times use."""
    stamp = time.time() if seconds is None else seconds
    return dt.datetime.fromtimestamp(int(stamp), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CRILogWriter:
    """Appends CRI records to a log file, splitting long lines and rotating by size.

    Thread-safe: the shim copies stdout and stderr from two threads into one file.
    """

    def __init__(self, path: Path, *, max_bytes: int = MAX_LOG_BYTES, max_line: int = MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_line = max_line
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab")
        self._size = self._fh.tell()

    def write_line(self, stream: str, data: bytes) -> None:
        """Write one line of output (``data`` with or without its trailing newline).

        A chunk without a newline that is not the end of a line is written with
        :meth:`write_partial`; this method always ends the line with an ``F`` record.
        """
        body = data[:-1] if data.endswith(b"\n") else data
        chunks = [body[i:i + self.max_line] for i in range(0, len(body), self.max_line)] or [b""]
        for chunk in chunks[:-1]:
            self._record(stream, b"P", chunk)
        self._record(stream, b"F", chunks[-1])

    def write_partial(self, stream: str, data: bytes) -> None:
        """Write output that does not (yet) end a line as ``P`` records."""
        for i in range(0, len(data), self.max_line):
            self._record(stream, b"P", data[i:i + self.max_line])

    def _record(self, stream: str, tag: bytes, text: bytes) -> None:
        record = rfc3339nano().encode() + b" " + stream.encode() + b" " + tag + b" " + text + b"\n"
        with self._lock:
            if self._size > 0 and self._size + len(record) > self.max_bytes:
                self._rotate()
            self._fh.write(record)
            self._fh.flush()
            self._size += len(record)

    def _rotate(self) -> None:
        self._fh.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._fh = self.path.open("ab")
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._fh.close()
