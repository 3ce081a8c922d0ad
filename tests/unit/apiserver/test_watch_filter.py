from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import selectors
from gitkube.apiserver.watch import filter_event
from gitkube.store.base import WatchEvent


def obj(labels: dict[str, str] | None = None, phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "d", "labels": labels or {}}, "status": {"phase": phase}}


SEL = selectors.parse_label_selector("app=web")
NONE = selectors.FieldSelector()


@pytest.mark.parametrize(
    "event,expected",
    [
        (WatchEvent("ADDED", "k", obj({"app": "web"}), None, 2), "ADDED"),
        (WatchEvent("ADDED", "k", obj({"app": "db"}), None, 2), None),
        (WatchEvent("MODIFIED", "k", obj({"app": "web"}), obj({"app": "web"}), 3), "MODIFIED"),
        (WatchEvent("MODIFIED", "k", obj({"app": "web"}), obj({"app": "db"}), 3), "ADDED"),
        (WatchEvent("MODIFIED", "k", obj({"app": "db"}), obj({"app": "web"}), 3), "DELETED"),
        (WatchEvent("MODIFIED", "k", obj({"app": "db"}), obj({"app": "db"}), 3), None),
        (WatchEvent("DELETED", "k", obj({"app": "web"}), obj({"app": "web"}), 4), "DELETED"),
        (WatchEvent("DELETED", "k", obj({"app": "db"}), obj({"app": "db"}), 4), None),
    ],
)
def test_selector_transitions(event: WatchEvent, expected: str | None) -> None:
    seen = filter_event(event, SEL, NONE)
    assert (seen[0] if seen else None) == expected


def test_field_selector_on_status() -> None:
    running = selectors.parse_field_selector("status.phase=Running")
    moved = WatchEvent("MODIFIED", "k", obj(phase="Succeeded"), obj(phase="Running"), 5)
    assert filter_event(moved, selectors.LabelSelector(), running) == ("DELETED", moved.object)
