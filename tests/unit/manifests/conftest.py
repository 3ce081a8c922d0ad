"""Fixtures: a real git repository in tmp_path and a writer for its files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.unit.manifests.gittree import GitTree, commit_all, init_repo


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = init_repo(path)
        self.tree = GitTree(path)

    def write(self, name: str, text: str | bytes) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return target

    def link(self, name: str, target: str) -> None:
        where = self.path / name
        where.parent.mkdir(parents=True, exist_ok=True)
        where.symlink_to(target)

    def commit(self, message: str = "commit") -> str:
        return commit_all(self.path, message)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def deployment(name: str = "web", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
        spec:
          selector:
            matchLabels: {{app: {name}}}
          template:
            metadata:
              labels: {{app: {name}}}
            spec:
              containers:
              - name: app
                image: nginx:1.27
        """) + extra


def configmap(name: str = "cfg", namespace: str | None = None) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\ndata:\n  a: '1'\n"
