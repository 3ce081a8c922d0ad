"""The DaemonSet controller: one pod per eligible node, rolled by ControllerRevision.

- :mod:`.nodes`: node eligibility (nodeSelector, required node affinity, taints against the
  daemon tolerations) and the pod built for one node;
- :mod:`.plan`: what a sync does (per-node pod count, RollingUpdate steps, status), pure;
- :mod:`.revisions`: the DaemonSet's ControllerRevisions (current, renumbered, pruned);
- :mod:`.controller`: :class:`DaemonSetController`, informers and the API calls.

Registered in :mod:`gitkube.controllers.manager` as ``daemonset``.
"""

from __future__ import annotations

from gitkube.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController"]
