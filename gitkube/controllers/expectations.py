"""Controller expectations, as client-go's ``UIDTrackingControllerExpectations``: how many pod
creations and which pod deletions a controller has asked for and not yet seen in its cache, so
a sync does not act twice on a stale cache. An expectation older than five minutes counts as
met (a lost watch event must not wedge a controller).

Used by the ReplicaSet (which re-exports :class:`Expectations`), DaemonSet and Job controllers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Expectations"]

_EXPECTATIONS_TTL = 300.0


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    stamp: float = field(default_factory=time.monotonic)


class Expectations:
    """client-go's UIDTrackingControllerExpectations: how many creations and which
    deletions of a controller are still to be seen in the cache."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        e = self._by_key.get(key)
        if e is None:
            return True
        return (e.adds <= 0 and not e.deletes) or time.monotonic() - e.stamp > _EXPECTATIONS_TTL

    def expect(self, key: str, adds: int, deletes: list[str]) -> None:
        """Creations and deletions asked for in one step (replaces what was expected before)."""
        self._by_key[key] = _Expected(adds=adds, deletes=set(deletes))

    def expect_creations(self, key: str, count: int) -> None:
        self.expect(key, count, [])

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self.expect(key, 0, pod_keys)

    def creation_observed(self, key: str, count: int = 1) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.adds -= count

    def deletion_observed(self, key: str, pod_key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
