"""The node agent: gitkube's kubelet.

``NodeAgent`` registers a Node, heartbeats its Lease and runs the containers of the pods
bound to it through a container runtime (``gitkube.agent.runtime_api``). See
``gitkube.agent.agent`` for the lifecycle and ``gitkube.agent.podworker`` for one pod.
"""

from __future__ import annotations

from gitkube.agent.agent import NodeAgent

__all__ = ["NodeAgent"]
