"""RefWatcher: real commits made with the git CLI wake it within a second; nothing else does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitkube.gitsource.repo import GitRepo
from gitkube.gitsource.watcher import RefWatcher

from .gitkit import commit, git, init_repo


class Calls:
    """Records on_change calls with the branch head the watcher saw at that moment."""

    def __init__(self) -> None:
        self.heads: list[str | None] = []
        self.cond = threading.Condition()
        self.watcher: RefWatcher | None = None

    def __call__(self) -> None:
        with self.cond:
            assert self.watcher is not None
            self.heads.append(self.watcher.head)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.heads) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "r", {"a.yaml": "a: 1\n"})


@pytest.fixture
def watch(repo_dir: Path) -> Iterator[tuple[RefWatcher, Calls]]:
    calls = Calls()
    watcher = RefWatcher(GitRepo(repo_dir), "main", calls)
    calls.watcher = watcher
    watcher.start()
    yield watcher, calls
    watcher.stop()


def test_commit_triggers_within_one_second(repo_dir: Path, watch: tuple[RefWatcher, Calls]) -> None:
    watcher, calls = watch
    assert watcher.head == git(repo_dir, "rev-parse", "HEAD")
    sha = commit(repo_dir, {"a.yaml": "a: 2\n"}, "second")
    t0 = time.monotonic()
    assert calls.wait_for(1, 1.0), "no on_change within 1 s of the commit"
    assert time.monotonic() - t0 < 1.0
    assert calls.heads == [sha]


def test_worktree_changes_without_commit_do_not_trigger(repo_dir: Path, watch: tuple[RefWatcher, Calls]) -> None:
    _, calls = watch
    (repo_dir / "a.yaml").write_text("a: 3\n")
    (repo_dir / "new.yaml").write_text("n: 1\n")
    git(repo_dir, "add", "new.yaml")  # rewrites .git/index: an event in the git dir, same head
    git(repo_dir, "status")
    git(repo_dir, "branch", "other")  # another branch moves: not ours
    assert not calls.wait_for(1, 0.5)
    sha = commit(repo_dir, {}, "now a commit")
    assert calls.wait_for(1, 1.0)
    assert not calls.wait_for(2, 0.3)
    assert calls.heads == [sha]


def test_burst_of_commits_ends_on_final_state(repo_dir: Path, watch: tuple[RefWatcher, Calls]) -> None:
    watcher, calls = watch
    shas = [commit(repo_dir, {"a.yaml": f"a: {i}\n"}, f"burst {i}") for i in range(5)]
    deadline = time.monotonic() + 2.0
    while watcher.head != shas[-1] and time.monotonic() < deadline:
        calls.wait_for(len(calls.heads) + 1, deadline - time.monotonic())
    assert watcher.head == shas[-1]
    assert calls.heads[-1] == shas[-1]
    assert 1 <= len(calls.heads) <= 5


def test_reset_update_ref_and_packed_refs(repo_dir: Path, watch: tuple[RefWatcher, Calls]) -> None:
    watcher, calls = watch
    first = git(repo_dir, "rev-parse", "HEAD")
    second = commit(repo_dir, {"a.yaml": "a: 2\n"}, "second")
    assert calls.wait_for(1, 1.0)
    git(repo_dir, "pack-refs", "--all")  # moves refs/heads/main into packed-refs, same sha
    assert not calls.wait_for(2, 0.3)
    git(repo_dir, "reset", "-q", "--hard", first)  # a backwards move is a change too
    assert calls.wait_for(2, 1.0)
    git(repo_dir, "update-ref", "refs/heads/main", second)  # touches only the ref (and its reflog)
    assert calls.wait_for(3, 1.0)
    assert calls.heads == [second, first, second]


@pytest.mark.parametrize("branch", ["main", "prod"])
def test_push_into_bare_repository(repo_dir: Path, tmp_path: Path, branch: str) -> None:
    """HEAD of the bare repository is main: a push to prod touches nothing but refs/heads/prod."""
    git(tmp_path, "clone", "-q", "--bare", str(repo_dir), "bare.git")
    git(repo_dir, "push", "-q", str(tmp_path / "bare.git"), "main:prod")
    calls = Calls()
    watcher = RefWatcher(GitRepo(tmp_path / "bare.git"), branch, calls)
    calls.watcher = watcher
    watcher.start()
    try:
        sha = commit(repo_dir, {"a.yaml": "a: pushed\n"}, "pushed")
        git(repo_dir, "push", "-q", str(tmp_path / "bare.git"), f"main:{branch}")
        assert calls.wait_for(1, 1.0)
        assert calls.heads == [sha]
    finally:
        watcher.stop()


def test_nested_branch_name_and_linked_worktree(repo_dir: Path, tmp_path: Path) -> None:
    git(repo_dir, "worktree", "add", "-q", "-b", "team/app", str(tmp_path / "wt"))
    calls = Calls()
    watcher = RefWatcher(GitRepo(tmp_path / "wt"), "team/app", calls)
    calls.watcher = watcher
    watcher.start()
    try:
        commit(repo_dir, {"a.yaml": "a: main\n"}, "on main")  # another branch
        assert not calls.wait_for(1, 0.3)
        sha = commit(tmp_path / "wt", {"a.yaml": "a: wt\n"}, "in the worktree")
        assert calls.wait_for(1, 1.0)
        assert calls.heads == [sha]
    finally:
        watcher.stop()


def test_stop_and_unborn_branch(tmp_path: Path) -> None:
    repo_dir = init_repo(tmp_path / "empty")
    calls = Calls()
    watcher = RefWatcher(GitRepo(repo_dir), "main", calls)
    calls.watcher = watcher
    watcher.start()
    assert watcher.head is None
    sha = commit(repo_dir, {"a.yaml": "a: 1\n"}, "first ever")
    assert calls.wait_for(1, 1.0) and calls.heads == [sha]
    watcher.stop()
    watcher.stop()
    commit(repo_dir, {"a.yaml": "a: 2\n"}, "after stop")
    assert not calls.wait_for(2, 0.3)


def test_on_change_exception_does_not_kill_the_watcher(repo_dir: Path) -> None:
    seen = threading.Event()
    count = 0

    def boom() -> None:
        nonlocal count
        count += 1
        if count == 2:
            seen.set()
        raise RuntimeError("caller bug")

    watcher = RefWatcher(GitRepo(repo_dir), "main", boom)
    watcher.start()
    try:
        commit(repo_dir, {"a.yaml": "a: 2\n"}, "one")
        deadline = time.monotonic() + 1.0
        while count < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        commit(repo_dir, {"a.yaml": "a: 3\n"}, "two")
        assert seen.wait(1.0)
    finally:
        watcher.stop()
