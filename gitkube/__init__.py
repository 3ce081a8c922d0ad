"""gitkube: a declarative GitOps desired-state engine with a built-in Kubernetes control plane."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
