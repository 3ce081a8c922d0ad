"""load(): multi-document files, List expansion, defaults, duplicates and every bad-input case."""

from __future__ import annotations

import pytest

from gitkube.api.objectkey import ObjectKey
from gitkube.errors import ManifestError, Rejected
from gitkube.manifests import Manifest, Source, load
from tests.unit.manifests.conftest import Repo, configmap, deployment


def problems_of(repo: Repo, commit: str, **kwargs: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(repo.tree, commit, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, Rejected)
    return info.value.problems


def test_multi_document_files_in_path_order_with_sources(repo: Repo) -> None:
    repo.write("b/web.yaml", deployment("web") + "---\n# only a comment\n---\n" + configmap("web-cfg"))
    repo.write("a.yml", "---\n\n---\n" + configmap("first", namespace="shop"))
    repo.write("README.md", "not yaml: [")
    repo.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  namespace: ignored\n")
    commit = repo.commit()
    out = load(repo.tree, commit, default_namespace="apps")
    assert [str(m.source) for m in out] == ["a.yml:4:1", "b/web.yaml:1:1", "b/web.yaml:18:1", "ns.yaml:1:1"]
    assert [m.source.doc for m in out] == [1, 0, 2, 0]
    assert all(isinstance(m, Manifest) for m in out)
    assert out[0].key == ObjectKey("", "ConfigMap", "shop", "first")
    assert out[1].key == ObjectKey("apps", "Deployment", "apps", "web")  # default namespace applied
    assert out[3].key == ObjectKey("", "Namespace", "", "shop")  # cluster-scoped: namespace dropped
    assert "namespace" not in out[3].obj["metadata"]
    assert out[1].obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_source_str() -> None:
    assert str(Source("apps/web.yaml", 12, 3, 0)) == "apps/web.yaml:12:3"


def test_path_limits_the_walk(repo: Repo) -> None:
    repo.write("apps/web.yaml", deployment())
    repo.write("other/broken.yaml", "a: [")
    commit = repo.commit()
    assert [m.source.file for m in load(repo.tree, commit, path="apps")] == ["apps/web.yaml"]
    assert [m.source.file for m in load(repo.tree, commit, path="/apps/")] == ["apps/web.yaml"]
    assert load(repo.tree, commit, path="missing") == []
    assert problems_of(repo, commit, path="../up") == ["../up: the manifests path leads outside the repository"]


def test_list_kinds_are_expanded_with_each_item_at_its_line(repo: Repo) -> None:
    repo.write("list.yaml", """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: one}
        - apiVersion: v1
          kind: ServiceAccount
          metadata: {name: two}
        ---
        apiVersion: v1
        kind: ConfigMapList
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: three}}
        """)
    out = load(repo.tree, repo.commit())
    assert [(m.obj["metadata"]["name"], str(m.source), m.source.doc) for m in out] == [
        ("one", "list.yaml:4:3", 0), ("two", "list.yaml:7:3", 0), ("three", "list.yaml:14:3", 1)]


def test_yaml_1_1_scalars_and_timestamps_as_kubectl_reads_them(repo: Repo) -> None:
    repo.write("cm.yaml", """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cfg
          annotations: {date: 2024-01-01, when: 2024-01-01T10:00:00Z}
        data:
          date: 2024-01-01
        """)
    repo.write("dep.yaml", deployment().replace("spec:\n  selector", "spec:\n  paused: yes\n  selector", 1))
    out = load(repo.tree, repo.commit())
    by_kind = {m.obj["kind"]: m.obj for m in out}
    assert by_kind["ConfigMap"]["data"]["date"] == "2024-01-01"
    assert by_kind["ConfigMap"]["metadata"]["annotations"]["when"] == "2024-01-01T10:00:00Z"
    assert by_kind["Deployment"]["spec"]["paused"] is True


def test_malformed_yaml_names_file_line_and_column(repo: Repo) -> None:
    repo.write("ok.yaml", configmap())
    repo.write("bad.yaml", configmap("x") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [y\n")
    problems = problems_of(repo, repo.commit())
    assert len(problems) == 1
    assert problems[0].startswith("bad.yaml:11:1: ")  # the unclosed flow sequence ends at EOF
    assert "flow" in problems[0]


def test_tabs_get_a_friendly_message(repo: Repo) -> None:
    repo.write("tabs.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n")
    assert problems_of(repo, repo.commit()) == ["tabs.yaml:4:1: tabs are not allowed for indentation in YAML"]


def test_duplicate_mapping_keys_are_an_error(repo: Repo) -> None:
    repo.write("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n")
    assert problems_of(repo, repo.commit()) == ['dup.yaml:5:3: mapping key "name" already defined at line 4']


def test_unknown_field_and_wrong_type_point_at_the_field(repo: Repo) -> None:
    repo.write("web.yaml", configmap("first") + "---\n" + deployment().replace(
        "spec:\n  selector", "spec:\n  replicass: 2\n  selector", 1).replace("image: nginx:1.27", "image: 5\n        ports:\n        - containerPort: eighty"))
    problems = problems_of(repo, repo.commit())
    assert problems[0] == 'web.yaml:13:3: spec.replicass: unknown field "replicass"'
    assert problems[1].startswith("web.yaml:22:9: spec.template.spec.containers[0].image: json: cannot unmarshal")
    assert problems[2].startswith("web.yaml:24:11: spec.template.spec.containers[0].ports[0].containerPort: "
                                  "json: cannot unmarshal string into Go struct field")
    assert len(problems) == 3


def test_unknown_kind_and_missing_fields(repo: Repo) -> None:
    repo.write("a.yaml", """
        apiVersion: v1
        kind: Foo
        metadata: {name: a}
        ---
        kind: ConfigMap
        metadata: {name: b}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {labels: {a: b}}
        ---
        - just
        - a list
        ---
        plain scalar
        """)
    assert problems_of(repo, repo.commit()) == [
        'a.yaml:2:1: no matches for kind "Foo" in version "v1"',
        "a.yaml:5:1: apiVersion not set",
        "a.yaml:10:1: metadata.name: Required value: name is required",
        "a.yaml:12:1: expected a Kubernetes object (a mapping with apiVersion and kind)",
        "a.yaml:15:1: expected a Kubernetes object (a mapping with apiVersion and kind)",
    ]


def test_invalid_names_use_each_kinds_rule(repo: Repo) -> None:
    repo.write("names.yaml", """
        apiVersion: v1
        kind: Service
        metadata: {name: 1web}
        spec: {ports: [{port: 80}]}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: Bad_Name, namespace: a.b}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: dotted.name.ok}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: dotted.ns}
        """)
    problems = problems_of(repo, repo.commit())
    assert problems[0].startswith('names.yaml:3:12: metadata.name: Invalid value: "1web": a DNS-1035 label')
    assert problems[1].startswith('names.yaml:8:12: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert problems[2].startswith('names.yaml:8:28: metadata.namespace: Invalid value: "a.b": must not contain dots')
    assert problems[3] == 'names.yaml:16:12: metadata.name: Invalid value: "dotted.ns": must not contain dots'
    assert len(problems) == 4


def test_the_same_object_twice_names_both_places(repo: Repo) -> None:
    repo.write("a.yaml", configmap("cfg"))
    repo.write("b/c.yaml", configmap("other") + "---\n" + configmap("cfg", namespace="default"))
    repo.write("d.yaml", configmap("cfg", namespace="elsewhere"))  # another namespace: another object
    assert problems_of(repo, repo.commit()) == ["b/c.yaml:8:1: ConfigMap default/cfg is also defined at a.yaml:1:1"]


def test_every_problem_is_reported_at_once(repo: Repo) -> None:
    repo.write("a.yaml", "a: [")
    repo.write("b.yaml", "apiVersion: v1\nkind: Nope\nmetadata: {name: x}\n")
    repo.write("c.yaml", b"\x00\x01binary")
    problems = problems_of(repo, repo.commit())
    assert [p.split(":")[0] for p in problems] == ["a.yaml", "b.yaml", "c.yaml"]


def test_binary_and_invalid_utf8_files_are_refused(repo: Repo) -> None:
    repo.write("nul.yaml", b"apiVersion: v1\x00\n")
    repo.write("latin1.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n".encode("latin-1"))
    assert problems_of(repo, repo.commit()) == ["latin1.yml: not a text file", "nul.yaml: not a text file"]


def test_a_50_mb_file_is_refused_without_reading_it(repo: Repo) -> None:
    with open(repo.path / "big.yaml", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse; git stores zeros compressed
    repo.write("small.yaml", configmap())
    commit = repo.commit()
    read: list[str] = []
    original = repo.tree.read

    def spy(blobs):  # type: ignore[no-untyped-def]
        blobs = list(blobs)
        read.extend(blobs)
        return original(blobs)

    repo.tree.read = spy  # type: ignore[method-assign]
    assert problems_of(repo, commit) == ["big.yaml: 52428800 bytes is over the 10 MiB limit for one manifest file"]
    big = next(f for f in repo.tree.files(commit) if f.path == "big.yaml")
    assert big.blob not in read


def test_alias_bomb_fails_fast(repo: Repo) -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, cur in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    repo.write("bomb.yaml", "\n".join(lines) + "\n")
    problems = problems_of(repo, repo.commit())
    assert len(problems) == 1 and "expands YAML aliases" in problems[0]
