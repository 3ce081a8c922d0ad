"""From a commit's files to validated desired objects: the manifests layer of the GitOps engine.

:func:`load` reads every ``*.yaml``/``*.yml`` below a path of a commit (through a
:class:`TreeReader`, implemented by the git layer), honours ``.gitkubeignore``, renders
kustomizations, expands ``List`` kinds, validates every object strictly and returns
:class:`Manifest` objects with their :class:`Source`, or raises
:class:`gitkube.errors.ManifestError` listing every problem as ``FILE:LINE:COL: message``.
:class:`ParseCache` keeps parsed blobs by sha across commits and restarts.

Modules: ``model`` (types and the reader protocol), ``select`` (the file walk), ``yamlparse``
(YAML to data), ``validate`` (one object's checks), ``positions`` (field path to line:column),
``blob`` (one file's entry), ``cache``, ``pool`` (parallel cold parse), ``kustomize``, ``loader`` (load()).
Callers: the GitOps engine (diff, sync, the push hooks).
"""

from __future__ import annotations

from gitkube.manifests.cache import ParseCache
from gitkube.manifests.loader import load
from gitkube.manifests.model import Manifest, Source, TreeFile, TreeReader

__all__ = ["Manifest", "ParseCache", "Source", "TreeFile", "TreeReader", "load"]
