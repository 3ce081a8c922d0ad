"""The parse cache: unchanged blobs are never parsed twice, across processes too."""

from __future__ import annotations

import marshal
import stat
from pathlib import Path

import pytest

from gitkube.errors import ManifestError
from gitkube.manifests import ParseCache, load, loader
from gitkube.manifests.blob import parse_blob
from tests.unit.manifests.conftest import Repo, configmap, deployment


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []

    def counting(data: bytes):  # type: ignore[no-untyped-def]
        seen.append(data)
        return parse_blob(data)

    monkeypatch.setattr(loader, "parse_blob", counting)
    return seen


def test_unchanged_blobs_are_not_parsed_again(repo: Repo, tmp_path: Path, parses: list[bytes]) -> None:
    for i in range(5):
        repo.write(f"cm{i}.yaml", configmap(f"cm{i}"))
    repo.write("web.yaml", deployment())
    first = repo.commit()
    cache_file = tmp_path / "data" / "manifests.cache"
    cache = ParseCache(cache_file)
    assert len(load(repo.tree, first, cache=cache)) == 6
    assert len(parses) == 6
    assert len(load(repo.tree, first, cache=cache)) == 6
    assert len(parses) == 6  # second load: every blob from the cache
    cache.save()
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    mtime = cache_file.stat().st_mtime_ns
    cache.save()  # nothing changed: not rewritten
    assert cache_file.stat().st_mtime_ns == mtime

    fresh = ParseCache(cache_file)  # as after a restart
    out = load(repo.tree, first, cache=fresh, default_namespace="other")
    assert len(parses) == 6 and fresh.hits == 6
    assert {m.obj["metadata"]["namespace"] for m in out} == {"other"}  # defaults applied after the cache
    out[0].obj["metadata"]["name"] = "mutated"  # callers may mutate: the cache hands out copies
    assert load(repo.tree, first, cache=fresh)[0].obj["metadata"]["name"] == "cm0"

    repo.write("cm3.yaml", configmap("cm3-changed"))
    second = repo.commit()
    assert [m.obj["metadata"]["name"] for m in load(repo.tree, second, cache=fresh)][3] == "cm3-changed"
    assert len(parses) == 7  # only the changed file


def test_problems_are_cached_with_positions_and_renamed_files_reuse_entries(repo: Repo, parses: list[bytes]) -> None:
    repo.write("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: [1]}\n")
    first = repo.commit()
    cache = ParseCache(None)
    for _ in range(2):
        with pytest.raises(ManifestError) as info:
            load(repo.tree, first, cache=cache)
        assert info.value.problems[0].startswith("bad.yaml:4:8: data.a: json: cannot unmarshal array")
    (repo.path / "bad.yaml").rename(repo.path / "renamed.yaml")
    with pytest.raises(ManifestError) as info:
        load(repo.tree, repo.commit(), cache=cache)
    assert info.value.problems[0].startswith("renamed.yaml:4:8: ")
    assert len(parses) == 1


def test_unreadable_or_foreign_cache_files_start_empty(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    path.write_bytes(b"garbage")
    assert len(ParseCache(path)) == 0
    path.write_bytes(marshal.dumps({"tag": "old-version", "entries": {"abc": b"x"}}))
    assert len(ParseCache(path)) == 0
    cache = ParseCache(path)
    cache.put("abc", ([], [(1, 1, "x")]))
    cache.save()
    assert ParseCache(path).get("abc") == ([], [(1, 1, "x")])
