"""The Deployment controller: Deployments → ReplicaSets, with rolling and recreate rollouts.

A port of kubernetes ``pkg/controller/deployment``: ``controller`` (informers, handlers,
the sync dispatch), ``sync`` (new/old ReplicaSets, proportional scaling, history cleanup,
status), ``rolling`` and ``recreate`` (one module per strategy), ``rollback`` (the
deprecated rollback annotation), ``progress`` (Progressing condition, progress deadline),
``conditions`` and ``util`` (pure arithmetic: hashes, fenceposts, revisions).
The ReplicaSet controller turns the ReplicaSets into pods and reports their availability.
"""

from __future__ import annotations

from gitkube.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
