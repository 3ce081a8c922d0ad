"""The scheduler: places pending pods on nodes through the API, as kube-scheduler does.

- :mod:`.framework`: extension-point Protocols (PreFilter, Filter, PreScore, Score,
  NormalizeScore), ``Status`` with codes and Kubernetes' reasons, ``CycleState``, ``FitError``.
- :mod:`.nodeinfo`: ``PodInfo`` (requests, ports, tolerations, affinity, parsed once) and
  ``NodeInfo`` (a node with running sums of what its pods take).
- :mod:`.cache`: nodes and placed pods, updated incrementally, with assumed pods.
- :mod:`.queue`: active / backoff / unschedulable pods.
- :mod:`.registry`: plugin name -> factory, the default plugin order and score weights.
- :mod:`.runtime`: one cycle: filter, score, select (no I/O).
- :mod:`.scheduler`: ``Scheduler(client).run()``: informers, the loop, binding, status, events.
- :mod:`.plugins`: one module per plugin.

Layering: imports only ``gitkube.api``, ``gitkube.client`` and ``gitkube.errors``.
"""

from __future__ import annotations

from gitkube.scheduler.framework import Code, CycleState, FitError, Status
from gitkube.scheduler.registry import Registry, default_registry
from gitkube.scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

__all__ = [
    "DEFAULT_SCHEDULER_NAME",
    "Code",
    "CycleState",
    "FitError",
    "Registry",
    "Scheduler",
    "Status",
    "default_registry",
]
