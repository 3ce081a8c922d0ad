"""Which files of a commit are manifests: the file walk before any parsing.

:func:`select` takes the blobs below ``--path`` and decides, without reading any manifest:

- candidates are ``*.yaml`` / ``*.yml`` files (any case), sorted by path;
- ``.gitkubeignore`` files (gitignore syntax, via ``pathspec``) exclude paths: the one at the
  root of ``--path`` and nested ones for their own directory, deeper files overriding shallower
  ones, and nothing inside an ignored directory can be re-included (git's rules);
- a directory holding ``kustomization.yaml``, ``kustomization.yml`` or ``Kustomization`` is
  rendered as a whole (outermost one only): its files are not loaded one by one;
- symlinks (mode 120000) named like manifests: an absolute target, or one leading outside the
  repository, is refused; a link to a manifest that is loaded anyway is skipped (loading it
  again could only produce duplicates of every object in it); a link to any other file in the
  commit is loaded under the link's name with the target's content;
- a file over :data:`MAX_FILE_BYTES` is refused with its size, without reading it.

Callers: :func:`gitkube.manifests.load`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import pathspec

from gitkube.manifests.model import MODE_SYMLINK, TreeFile, TreeReader

__all__ = ["IGNORE_FILE", "KUSTOMIZATION_FILES", "MAX_FILE_BYTES", "Selection", "resolve_link", "select"]

MAX_FILE_BYTES = 10 * 1024 * 1024
IGNORE_FILE = ".gitkubeignore"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_MAX_LINK_HOPS = 8


@dataclass
class Selection:
    """The outcome of the file walk."""

    plain: list[tuple[str, TreeFile]] = field(default_factory=list)  # (name shown, file to read)
    kustomizations: list[tuple[str, str]] = field(default_factory=list)  # (kustomization file, its dir)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, message)


def is_manifest_name(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def resolve_link(link: str, target: str) -> str | None:
    """The repository-relative path a symlink points to, or None if it leaves the repository."""
    if target.startswith("/") or not target:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    if joined == ".." or joined.startswith("../") or joined == ".":
        return None
    return joined


def _parent(path: str) -> str:
    return posixpath.dirname(path)


def _under(path: str, directory: str) -> bool:
    return not directory or path.startswith(directory + "/")


class _Ignore:
    """git's ignore rules for a set of ``.gitkubeignore`` files, memoised per directory."""

    def __init__(self, root: str, specs: dict[str, pathspec.GitIgnoreSpec]) -> None:
        self.root = root
        self.specs = specs
        self._dirs: dict[str, bool] = {root: False}

    def _match(self, path: str, is_dir: bool) -> bool:
        result: bool | None = None
        for directory, spec in self.specs.items():  # shallow to deep
            if path != directory and _under(path, directory):
                rel = path[len(directory) + 1:] if directory else path
                include = spec.check_file(rel + "/" if is_dir else rel).include
                if include is not None:
                    result = include
        return bool(result)

    def dir_ignored(self, directory: str) -> bool:
        known = self._dirs.get(directory)
        if known is None:
            known = self.dir_ignored(_parent(directory)) or self._match(directory, True)
            self._dirs[directory] = known
        return known

    def ignored(self, path: str) -> bool:
        if not self.specs:
            return False
        return self.dir_ignored(_parent(path)) or self._match(path, False)


def _ignore_rules(files: list[TreeFile], root: str, reader: TreeReader) -> _Ignore:
    found = sorted((f for f in files if posixpath.basename(f.path) == IGNORE_FILE and f.mode != MODE_SYMLINK),
                   key=lambda f: (f.path.count("/"), f.path))
    contents = reader.read([f.blob for f in found]) if found else {}
    specs = {
        _parent(f.path): pathspec.GitIgnoreSpec.from_lines(
            contents.get(f.blob, b"").decode("utf-8", "replace").splitlines())
        for f in found
    }
    return _Ignore(root, specs)


def select(reader: TreeReader, commit: str, root: str, files: list[TreeFile]) -> Selection:
    """Decide which files below ``root`` are loaded, rendered or refused."""
    out = Selection()
    ignore = _ignore_rules(files, root, reader)
    kept = [f for f in files if not ignore.ignored(f.path)]
    k_dirs: dict[str, str] = {}
    for f in kept:
        if posixpath.basename(f.path) in KUSTOMIZATION_FILES:
            k_dirs.setdefault(_parent(f.path), f.path)
    outermost = {d: k for d, k in k_dirs.items()
                 if not any(other != d and (not other or d.startswith(other + "/")) for other in k_dirs)}
    out.kustomizations = sorted((k, d) for d, k in outermost.items())

    def rendered(path: str) -> bool:
        return any(_under(path, d) for d in outermost)

    candidates = sorted((f for f in kept if is_manifest_name(f.path) and not rendered(f.path)),
                        key=lambda f: f.path)
    loaded = {f.path for f in candidates if f.mode != MODE_SYMLINK}
    links = [f for f in candidates if f.mode == MODE_SYMLINK]
    targets = reader.read([f.blob for f in links]) if links else {}
    by_path = {f.path: f for f in files}
    for f in candidates:
        if f.mode == MODE_SYMLINK:
            content = _follow(reader, commit, f, targets.get(f.blob, b""), by_path, loaded, out)
            if content is None:
                continue
        else:
            content = f
        if content.size > MAX_FILE_BYTES:
            out.problems.append((f.path, f"{content.size} bytes is over the 10 MiB limit for one manifest file"))
            continue
        out.plain.append((f.path, content))
    return out


def _follow(reader: TreeReader, commit: str, link: TreeFile, target: bytes, by_path: dict[str, TreeFile],
            loaded: set[str], out: Selection) -> TreeFile | None:
    """The file a manifest symlink stands for, or None (refused, or skipped as loaded anyway)."""
    current = link
    text = target.decode("utf-8", "replace")
    for _ in range(_MAX_LINK_HOPS):
        resolved = resolve_link(current.path, text)
        if resolved is None:
            out.problems.append((link.path, f"symlink to {text} leads outside the repository"))
            return None
        if resolved in loaded:
            return None
        found = by_path.get(resolved)
        if found is None:
            listing = reader.files(commit, _parent(resolved))
            by_path.update((f.path, f) for f in listing)
            found = by_path.get(resolved)
        if found is None:
            out.problems.append((link.path, f"symlink to {text}: no such file in the commit"))
            return None
        if found.mode != MODE_SYMLINK:
            return found
        current = found
        text = reader.read([found.blob]).get(found.blob, b"").decode("utf-8", "replace")
    out.problems.append((link.path, "too many levels of symbolic links"))
    return None
