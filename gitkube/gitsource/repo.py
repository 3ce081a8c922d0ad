"""Read a git repository at a commit: resolve revs, list a tree, read blobs, diff, log.

The engine, the manifest loader and the git hooks call :class:`GitRepo`; it is the only reader
of git content in gitkube. Opening uses gitpython (is it a repository, bare or not, where is the
git dir); the reads run git plumbing directly (``ls-tree``, one ``cat-file --batch`` per
:meth:`GitRepo.read` call, ``diff-tree``, ``log``) because those are the fast paths: listing
10,000 files and reading their blobs takes tens of milliseconds, not seconds.

Every failure is a :class:`~gitkube.errors.SourceError` whose message names the repository and
the rev, commit, path or blob involved; a corrupt or missing object never escapes as a traceback.
The environment of git is inherited (see :mod:`gitkube.gitsource.gitcmd`), so inside a
pre-receive hook the pushed, quarantined objects are readable.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from gitkube.errors import SourceError
from gitkube.gitsource.gitcmd import GitResult, last_lines, run_git

__all__ = ["CommitInfo", "GitRepo", "TreeFile"]

_FORMAT = "%H%x00%an%x00%ae%x00%at%x00%B"
_FIELDS = 5
_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class CommitInfo:
    """One commit: ``time`` is the author date in RFC 3339 UTC (``2026-11-27T01:02:03Z``)."""

    sha: str
    author: str
    email: str
    time: str
    message: str

    @property
    def summary(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class TreeFile:
    """One blob of a tree: repo-relative posix ``path``, blob sha, git mode and size in bytes."""

    path: str
    blob: str
    mode: str
    size: int

    @property
    def is_symlink(self) -> bool:
        return self.mode == "120000"


def _rfc3339(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commits(out: bytes) -> list[CommitInfo]:
    """Parse ``git log -z --format=_FORMAT`` output (fields and records all NUL-separated)."""
    parts = out.decode("utf-8", "replace").split("\x00")
    if parts and parts[-1].strip() == "":
        parts.pop()
    commits = []
    for i in range(0, len(parts) - _FIELDS + 1, _FIELDS):
        sha, author, email, epoch, message = parts[i : i + _FIELDS]
        commits.append(CommitInfo(sha.strip(), author, email, _rfc3339(epoch), message.rstrip("\n")))
    return commits


def _clean_subpath(subpath: str) -> str:
    """``"./apps/"`` -> ``"apps"``; ``""``/``"."``/``"/"`` -> ``""``; ``..`` is refused."""
    raw = subpath.strip().replace("\\", "/")
    if not raw.strip("/."):
        return ""
    norm = posixpath.normpath(raw.strip("/"))
    if norm == "." or norm == "":
        return ""
    if norm == ".." or norm.startswith("../"):
        raise SourceError(f"path {subpath!r} leads outside the repository")
    return norm


class GitRepo:
    """A working or bare git repository on disk (a linked worktree works too)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        try:
            repo = git.Repo(self.path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise SourceError(f"{self.path} is not a git repository") from exc
        except git.GitError as exc:
            raise SourceError(f"{self.path}: cannot open git repository: {exc}") from exc
        self.git_dir = Path(repo.git_dir).resolve()
        self.common_dir = Path(repo.common_dir).resolve()
        self.bare = bool(repo.bare)
        repo.close()

    def __repr__(self) -> str:
        return f"GitRepo({str(self.path)!r})"

    def _git(self, *args: str, input: bytes | None = None) -> GitResult:
        return run_git(args, git_dir=self.git_dir, input=input)

    # -- commits ---------------------------------------------------------------------------------

    def resolve(self, rev: str) -> CommitInfo:
        """The commit ``rev`` names (``main``, ``HEAD``, a sha, ``refs/heads/x``)."""
        if not rev or rev.startswith("-") or "\n" in rev or "\x00" in rev:
            raise SourceError(f"{self.path}: invalid revision {rev!r}")
        res = self._git("log", "-1", "--no-walk", "-z", f"--format={_FORMAT}", "--end-of-options",
                        f"{rev}^{{commit}}", "--")
        commits = _commits(res.stdout) if res.ok else []
        if not commits:
            raise SourceError(f"{self.path}: cannot resolve revision {rev!r} to a readable commit: "
                              f"{res.error_text()}")
        return commits[0]

    def branch_head(self, branch: str) -> str | None:
        """The sha ``refs/heads/<branch>`` points at, or None if there is no such branch.

        A branch whose commit cannot be read (a corrupt or truncated object) still has a head:
        its sha is returned, and reading that commit raises the SourceError that names it.
        """
        res = self._git("rev-parse", "--verify", "--quiet", "--end-of-options",
                        f"refs/heads/{branch}^{{commit}}")
        if res.ok:
            return res.stdout.decode().strip()
        if res.returncode == 1:
            raw = self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"refs/heads/{branch}")
            return raw.stdout.decode().strip() if raw.ok else None
        raise SourceError(f"{self.path}: cannot read branch {branch!r}: {res.error_text()}")

    def log(self, branch: str, limit: int = 50) -> list[CommitInfo]:
        """The newest ``limit`` commits of ``branch``, newest first; ``[]`` for an unborn branch."""
        res = self._git("log", "-z", f"--format={_FORMAT}", f"--max-count={max(limit, 0)}",
                        "--end-of-options", f"refs/heads/{branch}", "--")
        if res.ok:
            return _commits(res.stdout)
        if self.branch_head(branch) is None:
            return []
        raise SourceError(f"{self.path}: cannot read the history of branch {branch!r}: {res.error_text()}")

    def is_ancestor(self, old: str, new: str) -> bool:
        """True when ``old`` is ``new`` or one of its ancestors."""
        res = self._git("merge-base", "--is-ancestor", "--end-of-options", old, new)
        if res.returncode in (0, 1):
            return res.returncode == 0
        raise SourceError(f"{self.path}: cannot compare commits {old} and {new}: {res.error_text()}")

    def changed_paths(self, old: str, new: str) -> set[str]:
        """Repo-relative paths added, modified, deleted (a rename gives both names) from old to new.

        ``old`` may be the all-zero id a hook gets for a new branch: then every path of ``new``.
        """
        if old and not old.strip("0"):
            empty = self._git("hash-object", "-t", "tree", "--stdin", input=b"")
            old = empty.stdout.decode().strip() if empty.ok else old
        res = self._git("diff-tree", "-r", "--name-only", "-z", "--no-renames", "--no-commit-id",
                        "--end-of-options", old, new)
        if not res.ok:
            raise SourceError(f"{self.path}: cannot diff commits {old} and {new}: {res.error_text()}")
        return {p for p in res.stdout.decode("utf-8", "surrogateescape").split("\x00") if p}

    # -- trees and blobs -------------------------------------------------------------------------

    def files(self, commit: str, subpath: str = "") -> list[TreeFile]:
        """Every blob (recursively) below ``subpath`` (``""`` = the whole tree) in ``commit``.

        Submodule entries are not blobs and are left out. SourceError when the commit cannot be
        read or ``subpath`` does not exist in it.
        """
        sub = _clean_subpath(subpath)
        if not commit or commit.startswith("-"):
            raise SourceError(f"{self.path}: invalid commit {commit!r}")
        args = ["ls-tree", "-r", "-l", "-z", "--full-tree", f"{commit}^{{tree}}"]
        if sub:
            args += ["--", sub]
        res = self._git(*args)
        if not res.ok:
            raise SourceError(f"{self.path}: cannot read the tree of commit {commit}: {res.error_text()}")
        out = []
        for entry in res.stdout.decode("utf-8", "surrogateescape").split("\x00"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob, size = meta.split()
            if kind == "blob":
                if not size.isdigit():  # ls-tree -l prints "BAD" (exit 0) for an unreadable object
                    raise SourceError(f"{self.path}: commit {commit}: blob {blob} ({path}) is corrupt or "
                                      f"missing: {last_lines(res.stderr) or 'git cannot read its size'}")
                out.append(TreeFile(path=path, blob=blob, mode=mode, size=int(size)))
        if sub and not out:
            raise SourceError(f"{self.path}: path {sub!r} does not exist in commit {commit}")
        return out

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """The content of every blob, by sha, read in one ``git cat-file --batch`` round trip."""
        wanted = list(dict.fromkeys(blobs))
        if not wanted:
            return {}
        for sha in wanted:
            if not _OBJECT_ID.fullmatch(sha):
                raise SourceError(f"{self.path}: {sha!r} is not a blob id")
        res = self._git("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
        out, data, pos = {}, res.stdout, 0
        for sha in wanted:
            nl = data.find(b"\n", pos)
            if nl < 0:
                raise SourceError(f"{self.path}: cannot read blob {sha}: {res.error_text()}")
            header = data[pos:nl].decode("utf-8", "replace").split()
            if len(header) != 3:
                raise SourceError(f"{self.path}: cannot read blob {sha}: {' '.join(header[1:]) or 'no answer'}")
            _, kind, size_text = header
            if kind != "blob":
                raise SourceError(f"{self.path}: object {sha} is a {kind}, not a blob")
            start, size = nl + 1, int(size_text)
            if len(data) < start + size + 1:
                raise SourceError(f"{self.path}: cannot read blob {sha}: {res.error_text()}")
            out[sha] = data[start : start + size]
            pos = start + size + 1
        return out
