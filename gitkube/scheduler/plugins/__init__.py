"""The in-tree scheduler plugins, one module each (``NAME``, a class, ``new()``), as
kube-scheduler's ``framework/plugins/<name>``. :mod:`gitkube.scheduler.registry` maps the
names to the factories."""

from __future__ import annotations

__all__: list[str] = []
