"""Will the new pods fit on the nodes? A dry run of the scheduler's own plugins over a rollout.

The nodes and the pods bound to them are loaded into the scheduler's ``NodeInfo`` sums, then
each rollout of :func:`gitkube.plan.capacity.rollouts` is played in plan order the way its
controller would play it:

- a rolling update with surge places up to ``maxSurge`` new pods next to all the old ones, then
  removes one old pod per new pod placed (the Deployment controller's steady state);
- a replacing rollout (``Recreate``, StatefulSets, surge 0) removes the old pods first;
- a DaemonSet places one pod on each node it is eligible for (nodeSelector, affinity, taints,
  with the tolerations the DaemonSet controller adds), replacing the old pod there;
- a scale without a template change adds or removes pods.

Each pod goes through :func:`gitkube.scheduler.runtime.schedule_pod` with the default plugins
(filters and scores), so the reasons are the scheduler's own ("0/1 nodes are available: 1
Insufficient cpu."). Placed pods stay assumed for the rollouts after them. Pods another
scheduler places are not checked. Pure apart from the imports; called by
:mod:`gitkube.engine.capacity`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from typing import Any

from gitkube.api.scheduling import find_untolerated_taint, matches_node_affinity
from gitkube.plan.capacity import Rollout
from gitkube.scheduler import registry
from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo
from gitkube.scheduler.runtime import Framework, schedule_pod

__all__ = ["DAEMONSET_TOLERATIONS", "simulate"]

# what the DaemonSet controller adds to its pods (daemon/util AddOrUpdateDaemonPodTolerations)
DAEMONSET_TOLERATIONS = tuple({"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": e}
                              for k, e in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"),
                                           ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                                           ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule")))
_TERMINAL = ("Succeeded", "Failed")


def _uid(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


class _Cluster:
    def __init__(self, nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]) -> None:
        self.framework = Framework(registry.default_registry().build(registry.DEFAULT_PLUGINS),
                                   registry.DEFAULT_WEIGHTS)
        self.rng = random.Random(0)  # ties broken the same way on every run: the report is stable
        self.nodes: dict[str, NodeInfo] = {}
        for node in nodes:
            info = NodeInfo(str((node.get("metadata") or {}).get("name") or ""))
            info.set_node(dict(node))
            self.nodes[info.name] = info
        self.where: dict[str, str] = {}  # pod uid -> node
        for pod in pods:
            bound = str((pod.get("spec") or {}).get("nodeName") or "")
            if bound in self.nodes and str((pod.get("status") or {}).get("phase") or "") not in _TERMINAL:
                self.nodes[bound].add_pod(PodInfo.of(dict(pod)))
                self.where[_uid(pod)] = bound
        self.serial = 0

    def remove(self, pod: Mapping[str, Any]) -> None:
        node = self.where.pop(_uid(pod), None)
        if node is not None:
            self.nodes[node].remove_pod(_uid(pod))

    def place(self, template: Mapping[str, Any], only: str | None = None) -> str:
        """Schedule one copy of ``template``: "" when placed, else the scheduler's reason."""
        self.serial += 1
        pod = copy.deepcopy(dict(template))
        meta = pod.setdefault("metadata", {})
        meta["uid"] = f"gitkube-preflight-{self.serial}"
        meta.setdefault("name", f"{meta.get('generateName', 'pod-')}{self.serial}")
        info = PodInfo.of(pod)
        candidates = [self.nodes[only]] if only is not None else list(self.nodes.values())
        decision = schedule_pod(self.framework, info, candidates, rng=self.rng, percentage=100)
        if not decision.node:
            error = decision.fit_error
            return f"0/{len(self.nodes)} nodes are available: {error.filter_message()}." if error else "no node"
        self.nodes[decision.node].add_pod(info)
        self.where[info.uid] = decision.node
        return ""


def _scheduled_by_default(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (spec.get("schedulerName") or "default-scheduler") == "default-scheduler" and not spec.get("nodeName")


def _play(cluster: _Cluster, r: Rollout) -> tuple[int, int, str]:
    """(new pods, pods that did not fit, the first reason) of one rollout."""
    assert r.pod is not None
    failed, reason, total = 0, "", 0
    template = r.pod
    if r.per_node:  # the DaemonSet controller adds its tolerations to every pod it makes
        template = copy.deepcopy(r.pod)
        spec = template.setdefault("spec", {})
        spec["tolerations"] = [*(spec.get("tolerations") or []), *DAEMONSET_TOLERATIONS]

    def place(only: str | None = None) -> None:
        nonlocal failed, reason, total
        total += 1
        why = cluster.place(template, only)
        if why:
            failed += 1
            reason = reason or why

    old = list(r.old_pods)
    if r.per_node:
        for name, info in cluster.nodes.items():
            node = info.node or {}
            if not matches_node_affinity(spec, node) or find_untolerated_taint(info.taints, spec["tolerations"]):
                continue
            mine = [p for p in old if (p.get("spec") or {}).get("nodeName") == name]
            if mine and not r.rolls:
                continue
            if not r.surge:
                for p in mine:
                    cluster.remove(p)
            place(only=name)
            for p in mine:
                cluster.remove(p)
        return total, failed, reason
    if not r.rolls:
        for p in old[r.replicas:]:
            cluster.remove(p)
        for _ in range(max(0, r.replicas - len(old))):
            place()
        return total, failed, reason
    todo = r.replicas
    if r.surge > 0 and old:
        for _ in range(min(r.surge, todo)):
            place()
            todo -= 1
        while todo > 0 and old:
            cluster.remove(old.pop(0))
            place()
            todo -= 1
    for p in old:
        cluster.remove(p)
    for _ in range(todo):
        place()
    return total, failed, reason


def simulate(nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]],
             rollouts: Sequence[Rollout]) -> tuple[list[str], list[str]]:
    """(problems, warnings): which rollouts' new pods would stay Pending, and why."""
    todo = [r for r in rollouts if r.pod is not None and _scheduled_by_default(r.pod)]
    if not todo:
        return [], []
    if not nodes:
        return [], ["the cluster has no nodes: where the new pods will run was not checked"]
    cluster = _Cluster(nodes, pods)
    for r in rollouts:
        if r.pod is None:
            for p in r.old_pods:
                cluster.remove(p)
    problems = []
    for r in todo:
        total, failed, reason = _play(cluster, r)
        if failed:
            problems.append(f"{r.key}: {failed} of {total} new pods would not be scheduled: {reason}")
    return problems, []
