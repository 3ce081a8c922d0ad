"""Git sources for the GitOps engine: read a tree at a commit, watch a branch, mirror a remote,
host ``DATA/repo.git`` with its hooks and serve it over smart HTTP.

The engine (and the ``gitkube hook`` command run by the hosted repository's hooks) import from
here; nothing in gitsource knows about manifests or the control plane.
"""

from __future__ import annotations

from gitkube.gitsource.repo import CommitInfo, GitRepo, TreeFile

__all__ = ["CommitInfo", "GitRepo", "TreeFile"]
