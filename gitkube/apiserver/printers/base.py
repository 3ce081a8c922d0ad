"""The shapes every per-kind printer shares: a column definition and a printer.

A :class:`Printer` is the Python form of one ``h.TableHandler(columns, printX)`` pair in
Kubernetes' ``pkg/printers/internalversion/printers.go``: the column definitions of a kind
plus a pure function from one stored object (and "now") to that object's cells. The API
server always prints the wide form (``GenerateOptions{Wide: true}``), so a row carries a
cell for every column, priority-1 ones included; kubectl hides those without ``-o wide``.

Used by the per-kind modules (``core``, ``pod``, ``apps``, ``batch``, ``other``) and by
``gitkube.apiserver.table``, which turns printers into ``meta.k8s.io/v1`` Tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.descriptions import DESCRIPTIONS

__all__ = [
    "AGE",
    "Cell",
    "Column",
    "ConditionsFunc",
    "NAME",
    "Printer",
    "RowFunc",
    "describe",
]

Cell = str | int
RowFunc = Callable[[Mapping[str, Any], datetime], list[Cell]]
ConditionsFunc = Callable[[Mapping[str, Any]], list[dict[str, str]]]


def describe(key: str) -> str:
    """The SwaggerDoc description for ``<Type>.<field>``."""
    return DESCRIPTIONS[key]


@dataclass(frozen=True)
class Column:
    """One ``metav1.TableColumnDefinition``."""

    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the keys in the order the Go struct declares them."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    """Columns of one kind, the function that computes a row's cells, and optional row conditions."""

    columns: tuple[Column, ...]
    row: RowFunc
    conditions: ConditionsFunc | None = None


NAME = Column("Name", format="name", description=DESCRIPTIONS["ObjectMeta.name"])
AGE = Column("Age", description=DESCRIPTIONS["ObjectMeta.creationTimestamp"])
