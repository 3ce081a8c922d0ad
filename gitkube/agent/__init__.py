"""The node agent: gitkube's kubelet.

``NodeAgent`` registers a Node, heartbeats its Lease and runs the containers of the pods
bound to it through a container runtime (``gitkube.agent.runtime_api``). See
``gitkube.agent.agent`` for the lifecycle and ``gitkube.agent.podworker`` for one pod.

``NodeAgent`` is imported on first use (PEP 562): the per-container shim
(``python -m gitkube.agent.shim``) runs inside this package, and must not pay for the
agent's client stack (aiohttp and the API machinery, ~250 ms of imports) on every
container start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitkube.agent.agent import NodeAgent

__all__ = ["NodeAgent"]


def __getattr__(name: str) -> Any:
    if name == "NodeAgent":
        from gitkube.agent.agent import NodeAgent

        return NodeAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
