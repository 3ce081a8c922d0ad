"""The Ingress proxy: networking.k8s.io/v1 Ingresses served as an HTTP(S) reverse proxy.

:class:`IngressProxy` (:mod:`gitkube.proxy.ingress.proxy`) is the component ``gitkube up
--ingress-listen`` starts. It is built from a pure route table (:mod:`.routing`), backend
resolution over Services and Endpoints (:mod:`.backends`), an aiohttp request forwarder
(:mod:`.forward`) and an SNI certificate store (:mod:`.tls`). Part of :mod:`gitkube.proxy`,
so it shares the service proxy's balancer and stays independent of the controllers,
scheduler and agent (layering rule R2).
"""

from __future__ import annotations

from gitkube.proxy.ingress.proxy import IngressProxy

__all__ = ["IngressProxy"]
