"""The GitOps engine: the only package that wires the pipeline gitsource → manifests → plan →
sync together (layering rule R6). ``daemon`` is the loop of ``gitkube up``, ``pipeline`` the
commit-to-plan path shared with ``gitkube diff``/``apply`` and the hooks, ``http`` its endpoints,
``hooks`` the hosted repository's pre-/post-receive, ``drift`` the watch on owned objects,
``revert`` ``gitkube rollback --revert``."""
