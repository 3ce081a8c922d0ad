"""The service proxy: Services' cluster IPs and node ports forwarded to ready endpoints.

:class:`ServiceProxy` (:mod:`gitkube.proxy.proxy`) watches Services and Endpoints and runs
one :class:`~gitkube.proxy.listener.Listener` per service port address, each balancing new
connections with a :class:`~gitkube.proxy.balancer.Balancer`. Independent of the
controllers, scheduler and agent (layering rule R2).
"""

from __future__ import annotations

from gitkube.proxy.proxy import ServiceProxy

__all__ = ["ServiceProxy"]
