"""The scheduling framework's extension points, as kube-scheduler's ``framework/interface.go``.

A plugin is an object with a ``name`` that implements one or more of the Protocols below:

- ``PreFilterPlugin.pre_filter(state, pod)``: once per cycle; may return ``Status.skip()``
  so the framework does not call the plugin's ``filter`` for this pod (nothing to check).
- ``FilterPlugin.filter(state, pod, node)``: may the pod run on the node? A rejection is
  ``UNSCHEDULABLE`` (preemption could help) or ``UNSCHEDULABLE_AND_UNRESOLVABLE`` (it
  cannot), with Kubernetes' reason strings ("Insufficient cpu" ...).
- ``PreScorePlugin.pre_score(state, pod, nodes)``: once per cycle over the feasible nodes;
  ``Status.skip()`` skips the plugin's scoring.
- ``ScorePlugin.score(state, pod, node)`` and optional ``normalize_score(state, pod,
  scores)``: a node's score, brought to 0..``MAX_NODE_SCORE``, then weighted.

``CycleState`` is the per-cycle scratchpad plugins share between their extension points.
``FitError`` renders "0/3 nodes are available: ..." exactly as ``FitError.Error()`` does.
Pure; used by :mod:`gitkube.scheduler.runtime` and the plugins.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = [
    "MAX_NODE_SCORE",
    "Code",
    "CycleState",
    "FilterPlugin",
    "FitError",
    "NormalizeScorePlugin",
    "Plugin",
    "PreFilterPlugin",
    "PreScorePlugin",
    "ScorePlugin",
    "Status",
    "default_normalize_score",
]

MAX_NODE_SCORE = 100

PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_PREEMPTION_VICTIMS = "No preemption victims found for incoming pod"


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


@dataclass(frozen=True)
class Status:
    """The result of running a plugin: a code, Kubernetes' reason strings, the plugin."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def success(cls) -> Status:
        return _SUCCESS

    @classmethod
    def skip(cls) -> Status:
        return _SKIP

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "", unresolvable: bool = False) -> Status:
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
        return cls(code, tuple(reasons), plugin)

    @classmethod
    def error(cls, message: str, plugin: str = "") -> Status:
        return cls(Code.ERROR, (message,), plugin)

    @property
    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    @property
    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


_SUCCESS = Status()
_SKIP = Status(Code.SKIP)


class CycleState:
    """Per-cycle data plugins write in pre_filter/pre_score and read in filter/score."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._data


@runtime_checkable
class Plugin(Protocol):
    @property
    def name(self) -> str: ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class NormalizeScorePlugin(Plugin, Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: MutableMapping[str, int]) -> None: ...


def default_normalize_score(scores: MutableMapping[str, int], *, reverse: bool = False,
                            max_priority: int = MAX_NODE_SCORE) -> None:
    """Scale scores to 0..max_priority by the highest one (``DefaultNormalizeScore``);
    ``reverse`` turns "more is worse" counts into scores."""
    highest = max(scores.values(), default=0)
    for name, s in scores.items():
        if highest == 0:
            scores[name] = max_priority if reverse else 0
            continue
        value = max_priority * s // highest
        scores[name] = max_priority - value if reverse else value


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


@dataclass
class FitError:
    """Why no node fits: the filter status of every rejected node, plus the preemption
    (post-filter) verdict, rendered as kube-scheduler 1.32 renders it."""

    num_all_nodes: int
    statuses: Mapping[str, Status] = field(default_factory=dict)
    preemption_policy: str = "PreemptLowerPriority"

    def filter_message(self) -> str:
        counts: Counter[str] = Counter()
        for status in self.statuses.values():
            counts.update(status.reasons)
        return _histogram(counts)

    def post_filter_message(self) -> str:
        """What DefaultPreemption says when it finds no candidate: nodes rejected as
        unresolvable are "not helpful"; the rest have no lower-priority victims (gitkube
        does not preempt)."""
        if self.preemption_policy == "Never":
            return "preemption: not eligible due to preemptionPolicy=Never."
        counts: Counter[str] = Counter()
        for status in self.statuses.values():
            if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                counts[PREEMPTION_NOT_HELPFUL] += 1
            else:
                counts[NO_PREEMPTION_VICTIMS] += 1
        inner = f"0/{len(self.statuses)} nodes are available:"
        if counts:
            inner += f" {_histogram(counts)}."
        return f"preemption: {inner}"

    @property
    def message(self) -> str:
        text = f"0/{self.num_all_nodes} nodes are available:"
        reasons = self.filter_message()
        if reasons:
            text += f" {reasons}."
        return f"{text} {self.post_filter_message()}"

    def __str__(self) -> str:
        return self.message
