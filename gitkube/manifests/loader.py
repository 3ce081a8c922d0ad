"""``load()``: from a commit's files to the validated desired objects, or every problem at once.

Steps: select the files (:mod:`gitkube.manifests.select`); take each blob's entry from the parse
cache or parse it (:mod:`gitkube.manifests.blob`, in a process pool for a large cold set, see
:mod:`gitkube.manifests.pool`); decrypt ``*.sops.yaml`` files with the ``decrypt`` hook
(:class:`gitkube.manifests.sops.Decryptor`) and parse the plaintext, which never enters the
parse cache; render kustomizations (:mod:`gitkube.manifests.kustomize`);
then, in path order, give namespaced objects without a namespace the default one and check that
no object is defined twice. Any problem anywhere raises one :class:`~gitkube.errors.ManifestError`
listing all of them, each ``FILE:LINE:COL: message`` (``FILE: message`` for whole-file problems),
sorted by file and position: a commit is taken whole or not at all.

Callers: the GitOps engine (``gitkube diff``, sync, the pre-receive hook).
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import posixpath
from collections.abc import Callable
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.api.scheme import by_kind
from gitkube.errors import ManifestError
from gitkube.manifests import kustomize as kz
from gitkube.manifests import pool
from gitkube.manifests.blob import Entry, parse_blob
from gitkube.manifests.cache import ParseCache
from gitkube.manifests.model import Manifest, Source, TreeFile, TreeReader
from gitkube.manifests.select import select

__all__ = ["load"]

log = logging.getLogger(__name__)

_Problem = tuple[str, int, int, str]  # file, line, column, text (sort key + message)
_SOPS_SUFFIXES = (".sops.yaml", ".sops.yml")
NO_IDENTITY = "encrypted with SOPS: the daemon's age identity is needed to decrypt it"


def _root(path: str) -> str:
    root = posixpath.normpath(path.strip("/")) if path.strip("/") else ""
    if root == ".":
        return ""
    if root == ".." or root.startswith("../"):
        raise ManifestError([f"{path}: the manifests path leads outside the repository"])
    return root


def _problem_text(file: str, line: int, column: int, message: str) -> str:
    return f"{file}: {message}" if line <= 0 else f"{file}:{line}:{column}: {message}"


def _entries(reader: TreeReader, blobs: list[str], cache: ParseCache | None) -> dict[str, Entry]:
    """The entry of every blob: from the cache, else parsed (and cached)."""
    out: dict[str, Entry] = {}
    missing: list[str] = []
    for blob in blobs:
        entry = cache.get(blob) if cache is not None else None
        if entry is None:
            missing.append(blob)
        else:
            out[blob] = entry
    if missing:
        contents = reader.read(missing)
        if pool.worth_it(contents):
            for blob, raw in pool.parse_many(contents).items():
                out[blob] = marshal.loads(raw)
                if cache is not None:
                    cache.put_raw(blob, raw)
        else:
            for blob in missing:
                entry = parse_blob(contents.get(blob, b""))
                out[blob] = entry
                if cache is not None:
                    cache.put(blob, entry)
    return out


def _render_key(argv: list[str], kdir: str, tree: list[TreeFile]) -> str:
    digest = hashlib.sha256()
    stat = os.stat(argv[0])
    digest.update(f"{argv}\0{stat.st_size}\0{stat.st_mtime_ns}\0{kdir}\0".encode())
    for f in sorted(tree, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.mode}\0{f.blob}\n".encode())
    return "kustomize:" + digest.hexdigest()


def _render_all(reader: TreeReader, commit: str, root: str, files: list[TreeFile],
                kustomizations: list[tuple[str, str]], cache: ParseCache | None, kustomize: str | None,
                problems: list[_Problem], decrypt: Callable[[str, bytes], bytes] | None = None) -> dict[str, Entry]:
    """Entry per kustomization file of the rendered output (failures go to ``problems``)."""
    out: dict[str, Entry] = {}
    try:
        argv = kz.find_binary(kustomize)
    except kz.RenderError as exc:
        problems += [(kfile, 0, 0, f"{posixpath.basename(kfile)}: {exc}") for kfile, _ in kustomizations]
        return out
    if argv is None:
        for kfile, _ in kustomizations:
            problems.append((kfile, 0, 0, f"{posixpath.basename(kfile)} needs the kustomize or kubectl binary; "
                                          f"install one or set {kz.ENV_VAR}, or list the directory in "
                                          ".gitkubeignore"))
        return out
    tree = files if not root else reader.files(commit, "")
    for kfile, kdir in kustomizations:
        key = _render_key(argv, kdir, tree)
        entry = cache.get(key) if cache is not None else None
        if entry is None:
            try:
                rendered, secret = kz.render(argv, reader, commit, kfile, kdir, decrypt)
            except kz.RenderError as exc:
                problems.append((kfile, 0, 0, str(exc).removeprefix(f"{kfile}: ")))
                continue
            entry = parse_blob(rendered)
            if cache is not None and not entry[1] and not secret:  # never cache decrypted values
                cache.put(key, entry)
        objects, found = entry
        for line, _column, message in found:
            where = f" (kustomize output line {line})" if line > 0 else " (kustomize output)"
            problems.append((kfile, 1, 1, message + where))
        out[kfile] = ([(obj, 1, 1, doc) for obj, _l, _c, doc in objects], [])
    return out


def _decrypted(reader: TreeReader, sealed: list[tuple[str, TreeFile]],
               decrypt: Callable[[str, bytes], bytes] | None, problems: list[_Problem]) -> dict[str, Entry]:
    """Entry per SOPS file of its decrypted content (never cached: it holds secret values)."""
    out: dict[str, Entry] = {}
    if decrypt is None:
        problems += [(name, 0, 0, NO_IDENTITY) for name, _ in sealed]
        return out
    contents = reader.read(sorted({f.blob for _, f in sealed}))
    for name, content in sealed:
        try:
            plaintext = decrypt(name, contents.get(content.blob, b""))
        except ManifestError as exc:
            problems += [(name, 0, 0, line.removeprefix(f"{name}: ")) for line in exc.problems]
            continue
        objects, found = parse_blob(plaintext)
        # Positions are in the decrypted text, not the file: say so; values are never quoted.
        out[name] = (objects, [(line, column, f"{message} (in the decrypted content)")
                               for line, column, message in found])
    return out


def _default_namespace(obj: dict[str, Any], namespace: str) -> None:
    info = by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    meta = obj.get("metadata")
    if info is not None and info.namespaced and isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = namespace


def load(reader: TreeReader, commit: str, *, path: str = "", cache: ParseCache | None = None,
         default_namespace: str = "default", kustomize: str | None = None,
         decrypt: Callable[[str, bytes], bytes] | None = None) -> list[Manifest]:
    """Every desired object of ``commit`` below ``path``, validated, in file order.

    ``decrypt(file_name, content) -> plaintext YAML`` opens ``*.sops.yaml``/``*.sops.yml`` files
    (raising ``ManifestError``); without it such files are a problem each.

    Raises :class:`~gitkube.errors.ManifestError` listing every problem found."""
    root = _root(path)
    files = reader.files(commit, root)
    selection = select(reader, commit, root, files)
    problems: list[_Problem] = [(file, 0, 0, message) for file, message in selection.problems]
    sealed = [(name, f) for name, f in selection.plain if name.lower().endswith(_SOPS_SUFFIXES)]
    plain = [(name, f) for name, f in selection.plain if not name.lower().endswith(_SOPS_SUFFIXES)]
    entries = _entries(reader, sorted({f.blob for _, f in plain}), cache)
    rendered = _render_all(reader, commit, root, files, selection.kustomizations, cache, kustomize, problems, decrypt)
    sources: list[tuple[str, Entry]] = []
    used: set[str] = set()
    for name, content in plain:
        entry = entries[content.blob]
        if content.blob in used:  # same content under two names: give each its own objects
            entry = marshal.loads(marshal.dumps(entry))
        used.add(content.blob)
        sources.append((name, entry))
    sources += rendered.items()
    sources += _decrypted(reader, sealed, decrypt, problems).items()
    sources.sort(key=lambda item: item[0])
    manifests: list[Manifest] = []
    seen: dict[ObjectKey, Source] = {}
    for name, (objects, found) in sources:
        problems += [(name, line, column, message) for line, column, message in found]
        for obj, line, column, doc in objects:
            _default_namespace(obj, default_namespace)
            source = Source(name, line, column, doc)
            key = ObjectKey.of(obj)
            first = seen.setdefault(key, source)
            if first is not source:
                problems.append((name, line, column, f"{key} is also defined at {first}"))
                continue
            manifests.append(Manifest(obj, source))
    if problems:
        problems.sort(key=lambda p: (p[0], p[1], p[2]))
        raise ManifestError([_problem_text(*p) for p in problems])
    log.debug("loaded %d objects from %d files at %s", len(manifests), len(sources), commit)
    return manifests
