"""The data types of ``gitkube.manifests``: what goes in (a git tree) and what comes out.

- :class:`TreeFile` and :class:`TreeReader` are the protocol of the git layer
  (``gitkube.gitsource`` implements it; tests use a small adapter over the ``git`` CLI). The
  manifests package never imports the git layer: anything with these methods will do.
- :class:`Source` names where an object was written (file, 1-based line and column, 0-based
  document index); :class:`Manifest` is one validated desired object with its source.

Callers: :func:`gitkube.manifests.load` produces Manifests; the plan, sync and CLI layers read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitkube.api.objectkey import ObjectKey

__all__ = ["MODE_EXECUTABLE", "MODE_FILE", "MODE_SYMLINK", "Manifest", "Source", "TreeFile", "TreeReader"]

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"


class TreeFile(Protocol):
    """One blob of a commit's tree. ``path`` is repository-relative (``apps/web.yaml``)."""

    @property
    def path(self) -> str: ...

    @property
    def blob(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def size(self) -> int: ...


class TreeReader(Protocol):
    """Read access to the commits of one repository."""

    def files(self, commit: str, subpath: str = "") -> list[TreeFile]:
        """Every blob below ``subpath`` (recursive), repository-relative paths; [] if none."""
        ...

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """The content of each blob, keyed by its sha."""
        ...

    def export(self, commit: str, subpath: str, dest: Path) -> None:
        """Write the files below ``subpath`` into ``dest``, keeping their repository-relative
        paths (``dest/<subpath>/...``, as ``git archive COMMIT SUBPATH | tar -x -C DEST`` does);
        ``subpath=""`` exports the whole tree. Symlinks are written as symlinks."""
        ...


@dataclass(frozen=True)
class Source:
    """Where an object was written: ``apps/web.yaml:12:3`` (document index 0-based)."""

    file: str
    line: int
    column: int
    doc: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Manifest:
    """One desired object, as plain JSON-able data, and where it came from."""

    obj: dict[str, Any]
    source: Source

    @property
    def key(self) -> ObjectKey:
        return ObjectKey.of(self.obj)
