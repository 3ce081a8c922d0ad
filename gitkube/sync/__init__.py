"""Carry out a plan against a Kubernetes API: server-side apply wave by wave, wait for health,
prune, and keep the release log (the rollback points).

Everything goes through :class:`gitkube.client.Client`, so the same code applies to the built-in
control plane (over its Unix socket) and to any cluster reached through a kubeconfig. Called by
``gitkube.engine`` (the daemon loop and the one-shot ``gitkube apply``).
"""
