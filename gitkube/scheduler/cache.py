"""The scheduler's cache of nodes and of the pods placed on them, kept incrementally.

The scheduler's informer handlers feed it: nodes added, changed, removed; assigned pods
added, changed, removed (terminal pods count as removed, as kube-scheduler's informer
filters them out). ``assume(pod, node)`` places a pod before its binding reaches the API
server, so the next cycle already sees the resources taken; the informer's update with
``spec.nodeName`` confirms it and ``forget`` drops it if the binding fails.

Each ``NodeInfo`` keeps its running sums (requests, host ports, per-controller counts), so
a change costs O(1) and a cycle never recomputes them. ``node_list()`` is the list the
filters iterate, rebuilt only when the set of schedulable nodes changes. Single-threaded
(asyncio), no I/O. Used by :class:`gitkube.scheduler.scheduler.Scheduler`.
"""

from __future__ import annotations

from typing import Any

from gitkube.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["SchedulerCache", "is_terminal"]

Obj = dict[str, Any]


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class SchedulerCache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}  # pod uid -> node name
        self._assumed: set[str] = set()
        self._list: list[NodeInfo] | None = None

    # -- nodes --------------------------------------------------------------------------

    def _info(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        return info

    def set_node(self, node: Obj) -> None:
        """Add or update a node."""
        info = self._info(str(node["metadata"]["name"]))
        info.set_node(node)
        self._list = None

    def remove_node(self, node: Obj) -> None:
        name = str(node["metadata"]["name"])
        info = self.nodes.get(name)
        if info is None:
            return
        info.node = None
        if not info.pods:
            del self.nodes[name]
        self._list = None

    def node_list(self) -> list[NodeInfo]:
        """The nodes pods may be placed on (known, not being deleted), in a stable order."""
        if self._list is None:
            self._list = [n for n in self.nodes.values() if n.node is not None and not n.deleting]
        return self._list

    # -- pods ---------------------------------------------------------------------------

    def add_pod(self, pod: Obj) -> None:
        """An assigned pod (from the informer); confirms it if it was assumed."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        if is_terminal(pod):
            self.remove_pod(pod)
            return
        if not node_name:  # not bound yet (an assumed pod stays assumed)
            return
        previous = self._pod_node.get(uid)
        if previous is not None and previous != node_name:
            self._drop(uid)
        self._assumed.discard(uid)
        self._info(node_name).add_pod(PodInfo.of(pod))
        self._pod_node[uid] = node_name

    def update_pod(self, old: Obj, new: Obj) -> None:
        self.add_pod(new)

    def remove_pod(self, pod: Obj) -> bool:
        """Drop the pod wherever it is; True if it held a place on a node."""
        return self._drop(str((pod.get("metadata") or {}).get("uid", "")))

    def _drop(self, uid: str) -> bool:
        node_name = self._pod_node.pop(uid, None)
        self._assumed.discard(uid)
        if node_name is None:
            return False
        info = self.nodes.get(node_name)
        if info is not None:
            info.remove_pod(uid)
            if info.node is None and not info.pods:
                del self.nodes[node_name]
        return True

    def assume(self, pod: PodInfo, node_name: str) -> None:
        """Place a pod on a node ahead of its binding."""
        self._drop(pod.uid)
        self._info(node_name).add_pod(pod)
        self._pod_node[pod.uid] = node_name
        self._assumed.add(pod.uid)

    def forget(self, uid: str) -> None:
        """Undo ``assume`` (the binding failed)."""
        if uid in self._assumed:
            self._drop(uid)

    def is_assumed(self, uid: str) -> bool:
        return uid in self._assumed

    def __len__(self) -> int:
        return len(self._pod_node)
