"""Observability of the daemon: Prometheus metrics (``metrics``), structured logs (``logs``) and
outgoing webhooks (``webhook``).

A leaf package: it imports nothing of gitkube but the package version, so the API server, the
work queues (through a Protocol), the GitOps engine and the CLI can all use it without breaking
the layering. ``gitkube.app`` wires one ``metrics.Metrics`` per daemon through them.
"""

from __future__ import annotations

__all__: list[str] = []
