"""Kustomization directories rendered by ``kubectl kustomize``; the no-binary error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitkube.errors import ManifestError
from gitkube.manifests import ParseCache, load
from gitkube.manifests import kustomize as kz
from tests.unit.manifests.conftest import Repo, configmap, deployment

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"
needs_kubectl = pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"{KUBECTL} is not installed")


def overlay_repo(repo: Repo) -> None:
    repo.write("base/kustomization.yaml", "resources:\n- web.yaml\n")
    repo.write("base/web.yaml", deployment("web"))
    repo.write("apps/plain.yaml", configmap("plain"))
    repo.write("apps/prod/kustomization.yaml", "resources:\n- ../../base\n- cm.yaml\nnamespace: prod\n"
                                                "namePrefix: prod-\n")
    repo.write("apps/prod/cm.yaml", configmap("settings"))
    repo.write("apps/prod/nested/kustomization.yaml", "resources: [x.yaml]\n")  # inside the outer one: not rendered
    repo.write("apps/prod/nested/x.yaml", "broken: [")


@needs_kubectl
def test_kustomization_rendered_with_kubectl_kustomize(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay_repo(repo)
    renders: list[str] = []
    real_render = kz.render

    def counting(*args):  # type: ignore[no-untyped-def]
        renders.append(args[3])
        return real_render(*args)

    monkeypatch.setattr(kz, "render", counting)
    commit = repo.commit()
    cache = ParseCache(None)
    out = load(repo.tree, commit, path="apps", kustomize=KUBECTL, cache=cache)
    assert [(str(m.key), str(m.source)) for m in out] == [
        ("ConfigMap default/plain", "apps/plain.yaml:1:1"),
        ("ConfigMap prod/prod-settings", "apps/prod/kustomization.yaml:1:1"),
        ("Deployment.apps prod/prod-web", "apps/prod/kustomization.yaml:1:1"),
    ]
    # unchanged tree: the rendered output comes from the cache, the binary is not run again
    again = load(repo.tree, commit, path="apps", kustomize=KUBECTL, cache=cache)
    assert [str(m.key) for m in again] == [str(m.key) for m in out]
    assert renders == ["apps/prod/kustomization.yaml"]
    repo.write("base/web.yaml", deployment("web2"))  # a base outside --path changed: rendered again
    out = load(repo.tree, repo.commit(), path="apps", kustomize=KUBECTL, cache=cache)
    assert "Deployment.apps prod/prod-web2" in [str(m.key) for m in out]
    assert len(renders) == 2


@needs_kubectl
def test_binary_from_the_environment_and_render_failure(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.write("k/kustomization.yaml", "resources:\n- missing.yaml\n")
    monkeypatch.setenv(kz.ENV_VAR, KUBECTL)
    with pytest.raises(ManifestError) as info:
        load(repo.tree, repo.commit())
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("k/kustomization.yaml: kubectl.1.32 kustomize failed: ")
    assert "missing.yaml" in info.value.problems[0]


@needs_kubectl
def test_rendered_objects_are_validated(repo: Repo) -> None:
    repo.write("k/kustomization.yaml", "resources:\n- web.yaml\n")
    repo.write("k/web.yaml", deployment("web").replace("spec:\n  selector", "spec:\n  replicass: 3\n  selector", 1))
    with pytest.raises(ManifestError) as info:
        load(repo.tree, repo.commit(), kustomize=KUBECTL)
    assert info.value.problems[0].startswith('k/kustomization.yaml:1:1: spec.replicass: unknown field "replicass" '
                                             "(kustomize output line ")


@needs_kubectl
def test_symlink_escaping_from_a_kustomization_is_refused(repo: Repo) -> None:
    repo.write("k/kustomization.yaml", "resources:\n- secret.yaml\n")
    repo.link("k/secret.yaml", "/etc/hostname")
    with pytest.raises(ManifestError) as info:
        load(repo.tree, repo.commit(), kustomize=KUBECTL)
    assert info.value.problems == [
        "k/kustomization.yaml: k/secret.yaml: symlink to /etc/hostname leads outside the repository "
        "(used by k/kustomization.yaml)"]


def test_no_binary_is_one_clear_error(repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo.write("k/kustomization.yml", "resources: [a.yaml]\n")
    repo.write("k/a.yaml", configmap())
    repo.write("other.yaml", configmap("other"))
    commit = repo.commit()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(kz.ENV_VAR, raising=False)
    with pytest.raises(ManifestError) as info:
        load(repo.tree, commit)
    assert info.value.problems == [
        "k/kustomization.yml: kustomization.yml needs the kustomize or kubectl binary; install one or set "
        "GITKUBE_KUSTOMIZE, or list the directory in .gitkubeignore"]
    repo.write(".gitkubeignore", "k/\n")
    assert [m.source.file for m in load(repo.tree, repo.commit())] == ["other.yaml"]
    with pytest.raises(ManifestError) as info:
        load(repo.tree, commit, kustomize="no-such-kustomize")
    assert info.value.problems == ["k/kustomization.yml: kustomization.yml: kustomize binary 'no-such-kustomize' "
                                   "not found"]


def test_find_binary_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("kustomize", "kubectl.1.32"):
        binary = tmp_path / name
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(kz.ENV_VAR, raising=False)
    assert kz.find_binary() == [str(tmp_path / "kustomize"), "build"]
    assert kz.find_binary("kubectl.1.32") == [str(tmp_path / "kubectl.1.32"), "kustomize"]
    (tmp_path / "kustomize").unlink()
    assert kz.find_binary() is None


@needs_kubectl
def test_sops_files_inside_a_kustomization_are_decrypted_before_the_build_and_never_cached(
        repo: Repo, tmp_path: Path) -> None:
    from gitkube.manifests import agekey, sops

    identity, public = agekey.ensure_identity(tmp_path)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "hunter2"}}
    repo.write("k/kustomization.yaml", "resources:\n- db.sops.yaml\nnamespace: prod\nnamePrefix: prod-\n")
    repo.write("k/db.sops.yaml", sops.encrypt([secret], [public]).decode())
    commit = repo.commit()
    cache_file = tmp_path / "cache"
    cache = ParseCache(cache_file)
    out = load(repo.tree, commit, kustomize=KUBECTL, cache=cache, decrypt=sops.Decryptor([identity]))
    assert [(str(m.key), m.obj.get("stringData")) for m in out] == [("Secret prod/prod-db", {"password": "hunter2"})]
    cache.save()
    assert not cache_file.exists() or b"hunter2" not in cache_file.read_bytes()
    with pytest.raises(ManifestError) as info:
        load(repo.tree, commit, kustomize=KUBECTL)
    assert info.value.problems == ["k/kustomization.yaml: k/db.sops.yaml is encrypted with SOPS: the daemon's age "
                                   "identity is needed to decrypt it"]
