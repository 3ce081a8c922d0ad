""".gitkubeignore and symlinks: which files load() reads."""

from __future__ import annotations

import pytest

from gitkube.errors import ManifestError
from gitkube.manifests import load
from gitkube.manifests.select import resolve_link
from tests.unit.manifests.conftest import Repo, configmap


def names(repo: Repo, commit: str, path: str = "") -> list[str]:
    return [m.source.file for m in load(repo.tree, commit, path=path)]


def test_gitkubeignore_root_and_nested_with_git_rules(repo: Repo) -> None:
    repo.write("apps/.gitkubeignore", "*.tmp.yaml\ndrafts/\n!keep.tmp.yaml\n")
    repo.write("apps/a.yaml", configmap("a"))
    repo.write("apps/x.tmp.yaml", "broken: [")
    repo.write("apps/keep.tmp.yaml", configmap("keep"))
    repo.write("apps/drafts/d.yaml", "broken: [")
    repo.write("apps/drafts/.gitkubeignore", "!d.yaml\n")  # cannot re-include inside an ignored dir
    repo.write("apps/sub/.gitkubeignore", "only-here.yaml\n!*.tmp.yaml\n")
    repo.write("apps/sub/only-here.yaml", "broken: [")
    repo.write("apps/sub/back.tmp.yaml", configmap("back"))
    repo.write("apps/only-here.yaml", configmap("root-level"))  # the nested file applies below sub/ only
    repo.write(".gitkubeignore", "a.yaml\n")  # above --path: not used
    commit = repo.commit()
    assert names(repo, commit, "apps") == ["apps/a.yaml", "apps/keep.tmp.yaml", "apps/only-here.yaml",
                                           "apps/sub/back.tmp.yaml"]


def test_resolve_link() -> None:
    assert resolve_link("apps/web.yaml", "../base/web.yaml") == "base/web.yaml"
    assert resolve_link("apps/web.yaml", "../../etc/passwd") is None
    assert resolve_link("web.yaml", "/etc/passwd") is None
    assert resolve_link("a/b/web.yaml", "./x/../y.yaml") == "a/b/y.yaml"


def test_symlink_escaping_the_repository_is_refused(repo: Repo) -> None:
    repo.write("ok.yaml", configmap())
    repo.link("apps/escape.yaml", "../../outside.yaml")
    repo.link("abs.yaml", "/etc/hostname")
    with pytest.raises(ManifestError) as info:
        load(repo.tree, repo.commit())
    assert info.value.problems == ["abs.yaml: symlink to /etc/hostname leads outside the repository",
                                   "apps/escape.yaml: symlink to ../../outside.yaml leads outside the repository"]


def test_symlink_inside_the_repository(repo: Repo) -> None:
    repo.write("shared/cfg.yaml", configmap("shared"))
    repo.write("apps/web.yaml", configmap("web"))
    repo.link("apps/shared.yaml", "../shared/cfg.yaml")  # target outside --path: loaded under the link's name
    repo.link("apps/again.yaml", "web.yaml")  # target loaded anyway: skipped, no duplicate
    repo.link("apps/chain.yaml", "shared.yaml")  # link to a link
    repo.link("apps/dangling.yaml", "nope.yaml")
    commit = repo.commit()
    with pytest.raises(ManifestError) as info:
        load(repo.tree, commit, path="apps")
    assert info.value.problems == [
        "apps/dangling.yaml: symlink to nope.yaml: no such file in the commit",
        "apps/shared.yaml:1:1: ConfigMap default/shared is also defined at apps/chain.yaml:1:1"]
    (repo.path / "apps/dangling.yaml").unlink()
    (repo.path / "apps/chain.yaml").unlink()
    out = load(repo.tree, repo.commit(), path="apps")
    assert [(m.source.file, m.obj["metadata"]["name"]) for m in out] == [
        ("apps/shared.yaml", "shared"), ("apps/web.yaml", "web")]
